/** Viewers watch without changing anything; a removed member's page says so. */
import { connected, drag, draw, expect, shapes, test } from './fixtures';

test('a viewer sees the board live but cannot draw', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const vic = await api.register('Vic');
  const board = await api.createBoard(ada, 'Look only');
  await api.share(board, ada, vic, 'viewer');
  const adaPage = await openAs(ada, `/b/${board}`);
  const vicPage = await openAs(vic, `/b/${board}`);
  await connected(adaPage);
  await connected(vicPage);

  await expect(vicPage.getByTestId('viewer-badge')).toBeVisible();
  for (const tool of ['select', 'rect', 'ellipse', 'line', 'stroke', 'note']) {
    await expect(vicPage.getByTestId(`tool-${tool}`)).toBeDisabled();
  }
  await expect(vicPage.getByTestId('undo')).toBeDisabled();
  await expect(vicPage.getByTestId('color-red')).toBeDisabled();

  // Live: the owner's drawing shows up on the viewer's page.
  await draw(adaPage, 'note', [60, 60], [60, 60]);
  await adaPage.getByTestId('note-text').pressSequentially('Read me');
  await expect(vicPage.getByTestId('note-text')).toHaveValue('Read me', { timeout: 1000 });
  await expect(vicPage.getByTestId('note-text')).toHaveJSProperty('readOnly', true);

  // A drag on the viewer's page only pans; the keyboard deletes nothing.
  await drag(vicPage, [300, 300], [400, 380]);
  await vicPage.locator('[data-shape-type="note"]').click({ force: true });
  await vicPage.keyboard.press('Delete');
  await expect(shapes(vicPage)).toHaveCount(1);
  const stored = Object.values(await api.shapes(board, ada.token));
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatchObject({ type: 'note', text: 'Read me' });
});

test('the owner removes a member in the sharing panel and that member\'s page shows access removed', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const bob = await api.register('Bob');
  const board = await api.createBoard(ada, 'Private');
  const adaPage = await openAs(ada, `/b/${board}`);
  await connected(adaPage);

  // Share through the panel.
  await adaPage.getByTestId('share-button').click();
  await adaPage.getByTestId('share-email').fill(bob.email);
  await adaPage.getByTestId('share-role').selectOption('editor');
  await adaPage.getByTestId('share-submit').click();
  const bobRow = adaPage.locator(`[data-testid="member-row"][data-email="${bob.email}"]`);
  await expect(bobRow).toHaveAttribute('data-role', 'editor');

  const bobPage = await openAs(bob, `/b/${board}`);
  await connected(bobPage);
  await draw(bobPage, 'rect', [50, 50], [150, 120]);
  await expect(shapes(adaPage, 'rect')).toBeVisible({ timeout: 1000 });

  await bobRow.getByTestId('member-remove').click();
  await expect(bobRow).toHaveCount(0);

  await expect(bobPage.getByTestId('connection-status')).toHaveAttribute('data-state', 'access-lost');
  await expect(bobPage.getByTestId('board-banner')).toContainText('access to this board was removed');
  await expect(bobPage.getByTestId('tool-rect')).toBeDisabled();
  // The owner's page is unaffected.
  await expect(adaPage.getByTestId('connection-status')).toHaveAttribute('data-state', 'connected');
});

test('a deleted board shows as deleted on an open page', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Short-lived');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);
  const response = await api.call('DELETE', `/boards/${board}`, ada.token);
  expect(response.status).toBe(204);
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'board-deleted');
  await expect(page.getByTestId('board-banner')).toContainText('deleted');
});
