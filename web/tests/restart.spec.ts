/** A server restart: the page reconnects by itself and every shape is still there. */
import { REFUSED_CONNECTION, connected, draw, expect, shapes, test } from './fixtures';

test.use({ allowConsole: REFUSED_CONNECTION });

test('after a server restart the page reconnects with every shape intact', async ({ api, openAs, server }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Durable');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);

  await draw(page, 'rect', [40, 40], [140, 110]);
  await draw(page, 'ellipse', [200, 40], [300, 120]);
  await draw(page, 'line', [40, 200], [200, 260]);
  await draw(page, 'stroke', [250, 200], [380, 300]);
  await expect(shapes(page)).toHaveCount(4);
  const before = await api.shapes(board, ada.token);
  expect(Object.keys(before)).toHaveLength(4);

  await server.stop();
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'reconnecting');
  await server.resume();
  // The page comes back on its own.
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'connected', { timeout: 15_000 });
  await expect(shapes(page)).toHaveCount(4);

  // A shape drawn after the restart joins the ones from before, on the server too.
  await draw(page, 'rect', [60, 320], [160, 380]);
  await expect(shapes(page)).toHaveCount(5);
  await expect.poll(async () => Object.keys(await api.shapes(board, ada.token)).length).toBe(5);
  const after = await api.shapes(board, ada.token);
  for (const [id, shape] of Object.entries(before)) expect(after[id]).toEqual(shape);

  // A fresh load shows the same board.
  await page.reload();
  await connected(page);
  await expect(shapes(page)).toHaveCount(5);
});

test('a token the restarted server no longer accepts asks to log in again, then the board reopens', async ({ api, openAs, server }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Kept');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);
  await draw(page, 'ellipse', [60, 60], [200, 160]);
  await expect.poll(async () => Object.keys(await api.shapes(board, ada.token)).length).toBe(1);

  // A new signing secret invalidates every token issued before.
  await server.stop();
  await server.resume({ JWT_SECRET: 'another-browser-tests-secret-0123456789' });
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'token-expired', { timeout: 15_000 });
  await expect(page.getByTestId('tool-ellipse')).toBeDisabled();
  await page.getByTestId('login-again').click();

  await page.getByTestId('auth-email').fill(ada.email);
  await page.getByTestId('auth-password').fill('correct horse battery');
  await page.getByTestId('auth-submit').click();
  await connected(page);
  await expect(page.getByTestId('board-name')).toHaveText('Kept');
  await expect(shapes(page, 'ellipse')).toHaveCount(1);
  await expect(page.getByTestId('tool-ellipse')).toBeEnabled();
});
