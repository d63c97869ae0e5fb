/** Two people on one board: shapes, cursors and note text travel between pages live. */
import * as Y from 'yjs';

import { canvas, connected, drag, draw, expect, shapes, test } from './fixtures';

test('a rectangle drawn on one page appears on the other within a second', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const bob = await api.register('Bob');
  const board = await api.createBoard(ada, 'Shared');
  await api.share(board, ada, bob, 'editor');
  const adaPage = await openAs(ada, `/b/${board}`);
  const bobPage = await openAs(bob, `/b/${board}`);
  await connected(adaPage);
  await connected(bobPage);

  await draw(adaPage, 'rect', [100, 100], [260, 200]);
  await expect(shapes(adaPage, 'rect')).toHaveCount(1);
  await expect(shapes(bobPage, 'rect')).toBeVisible({ timeout: 1000 });

  const stored = Object.values(await api.shapes(board, ada.token));
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatchObject({ type: 'rect', w: 160, h: 100 });
});

test('each page sees the other person\'s cursor with their name', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const bob = await api.register('Bob');
  const board = await api.createBoard(ada, 'Cursors');
  await api.share(board, ada, bob, 'viewer');
  const adaPage = await openAs(ada, `/b/${board}`);
  const bobPage = await openAs(bob, `/b/${board}`);
  await connected(adaPage);
  await connected(bobPage);

  const adaBox = await canvas(adaPage).boundingBox();
  const bobBox = await canvas(bobPage).boundingBox();
  if (!adaBox || !bobBox) throw new Error('no canvas');
  await adaPage.mouse.move(adaBox.x + 150, adaBox.y + 120);
  await bobPage.mouse.move(bobBox.x + 300, bobBox.y + 200);

  await expect(bobPage.locator('[data-testid="remote-cursor"][data-user-name="Ada"]')).toBeVisible({ timeout: 1000 });
  await expect(adaPage.locator('[data-testid="remote-cursor"][data-user-name="Bob"]')).toBeVisible({ timeout: 1000 });
  await expect(adaPage.locator('[data-testid="remote-cursor"][data-user-name="Bob"]')).toHaveAttribute('data-user-id', bob.id);
  // Each also lists the other among the people here.
  await expect(adaPage.getByTestId('presence-user')).toHaveAttribute('data-user-name', 'Bob');
  await expect(bobPage.getByTestId('presence-user')).toHaveAttribute('data-user-name', 'Ada');
  await bobPage.close();
  await expect(adaPage.getByTestId('presence-user')).toHaveCount(0);
  await expect(adaPage.getByTestId('remote-cursor')).toHaveCount(0);
});

test('a note typed in two pages at once converges to the same text', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const bob = await api.register('Bob');
  const board = await api.createBoard(ada, 'Notes');
  await api.share(board, ada, bob, 'editor');
  const adaPage = await openAs(ada, `/b/${board}`);
  const bobPage = await openAs(bob, `/b/${board}`);
  await connected(adaPage);
  await connected(bobPage);

  // Ada makes a note (it opens for typing) and starts it.
  await adaPage.getByTestId('tool-note').click();
  await drag(adaPage, [80, 80], [80, 80], 1);
  const adaNote = adaPage.getByTestId('note-text');
  await expect(adaNote).toBeFocused();
  await adaNote.pressSequentially('Hello');
  const bobNote = bobPage.getByTestId('note-text');
  await expect(bobNote).toHaveValue('Hello', { timeout: 1000 });

  // Bob opens the same note and both type at once, at different places.
  await bobPage.getByTestId('tool-select').click();
  await bobPage.locator('[data-shape-type="note"]').dblclick({ position: { x: 60, y: 60 } });
  await expect(bobNote).toBeFocused();
  await bobNote.press('Home');
  await Promise.all([
    adaNote.pressSequentially(' from Ada', { delay: 15 }),
    bobNote.pressSequentially('Bob says: ', { delay: 15 }),
  ]);

  const expected = 'Bob says: Hello from Ada';
  await expect(adaNote).toHaveValue(expected);
  await expect(bobNote).toHaveValue(expected);
  const stored = Object.values(await api.shapes(board, ada.token));
  expect(stored[0]).toMatchObject({ type: 'note', text: expected });
});

test('a shape added over REST in the data model appears on an open page without reload', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'From a script');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);

  const doc = new Y.Doc();
  doc.transact(() => {
    const shape = new Y.Map<unknown>();
    shape.set('type', 'ellipse');
    shape.set('x', 40);
    shape.set('y', 50);
    shape.set('w', 120);
    shape.set('h', 90);
    shape.set('color', '#2f9e44');
    shape.set('z', 1);
    doc.getMap('shapes').set('from-rest', shape);
  });
  const response = await api.call('POST', `/boards/${board}/updates`, ada.token, Y.encodeStateAsUpdate(doc));
  expect(response.status).toBe(204);

  const drawn = page.locator('[data-shape-id="from-rest"]');
  await expect(drawn).toBeVisible({ timeout: 1000 });
  await expect(drawn).toHaveAttribute('data-shape-type', 'ellipse');
  await expect(drawn.locator('ellipse')).toHaveAttribute('fill', '#2f9e44');
});
