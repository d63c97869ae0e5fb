/** Drawing every kind of shape, then selecting, moving, resizing, recolouring, deleting; undo and redo; pan and zoom. */
import { canvas, connected, drag, draw, expect, shapes, test } from './fixtures';

test('every tool draws its shape in the shared data model', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Tools');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);

  await page.getByTestId('color-blue').click();
  await draw(page, 'rect', [40, 40], [140, 100]);
  // A colour picked with a drawing tool is for the next shape only.
  await page.getByTestId('color-red').click();
  await draw(page, 'ellipse', [200, 40], [300, 100]);
  await page.getByTestId('color-blue').click();
  await draw(page, 'line', [40, 160], [140, 220]);
  await draw(page, 'stroke', [200, 160], [300, 240]);
  await draw(page, 'note', [360, 40], [360, 40]);
  await page.getByTestId('note-text').pressSequentially('Plan');
  await expect(shapes(page)).toHaveCount(5);

  await expect
    .poll(async () => Object.values(await api.shapes(board, ada.token)).map((s) => s.type).sort())
    .toEqual(['ellipse', 'line', 'note', 'rect', 'stroke']);
  const stored = Object.values(await api.shapes(board, ada.token));
  const byType = Object.fromEntries(stored.map((s) => [s.type, s]));
  expect(byType.rect).toMatchObject({ x: 40, y: 40, w: 100, h: 60, color: '#1971c2' });
  expect(byType.ellipse).toMatchObject({ color: '#e03131' });
  expect(byType.line).toMatchObject({ x: 40, y: 160, w: 100, h: 60, points: [[0, 0], [100, 60]] });
  expect((byType.stroke?.points as unknown[]).length).toBeGreaterThan(2);
  expect(byType.note).toMatchObject({ text: 'Plan' });
  const zs = stored.map((s) => s.z as number);
  expect(new Set(zs).size).toBe(5);
});

test('a shape is selected, moved, resized, recoloured and deleted', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Edit');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);
  await draw(page, 'rect', [100, 100], [200, 160]);
  const stored = async (): Promise<Record<string, unknown>> => Object.values(await api.shapes(board, ada.token))[0] ?? {};
  await expect.poll(stored).toMatchObject({ x: 100, y: 100, w: 100, h: 60 });

  // Move: select tool, drag the body.
  await page.getByTestId('tool-select').click();
  await drag(page, [150, 130], [250, 180]);
  await expect.poll(stored).toMatchObject({ x: 200, y: 150, w: 100, h: 60 });
  await expect(page.getByTestId('selection-box')).toHaveCount(1);

  // Resize by the bottom-right handle.
  const handle = page.locator('[data-testid="resize-handle"][data-corner="se"]');
  await expect(handle).toBeVisible();
  const box = await handle.boundingBox();
  const origin = await canvas(page).boundingBox();
  if (!box || !origin) throw new Error('no handle');
  const hx = box.x + box.width / 2 - origin.x;
  const hy = box.y + box.height / 2 - origin.y;
  await drag(page, [hx, hy], [hx + 50, hy + 40]);
  await expect.poll(stored).toMatchObject({ x: 200, y: 150 });
  const resized = await stored();
  expect(resized.w as number).toBeGreaterThan(140);
  expect(resized.h as number).toBeGreaterThan(90);

  // Recolour the selection.
  await page.getByTestId('color-red').click();
  await expect.poll(stored).toMatchObject({ color: '#e03131' });
  await expect(shapes(page, 'rect').locator('rect')).toHaveAttribute('stroke', '#e03131');

  // Delete it.
  await page.getByTestId('delete-selection').click();
  await expect(shapes(page)).toHaveCount(0);
  await expect.poll(async () => Object.keys(await api.shapes(board, ada.token)).length).toBe(0);
});

test('undo and redo cover only this person\'s own changes', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const bob = await api.register('Bob');
  const board = await api.createBoard(ada, 'Undo');
  await api.share(board, ada, bob, 'editor');
  const adaPage = await openAs(ada, `/b/${board}`);
  const bobPage = await openAs(bob, `/b/${board}`);
  await connected(adaPage);
  await connected(bobPage);

  await draw(adaPage, 'rect', [40, 40], [140, 100]);
  await draw(bobPage, 'ellipse', [200, 40], [300, 100]);
  await expect(shapes(adaPage)).toHaveCount(2);

  await adaPage.getByTestId('undo').click();
  await expect(shapes(adaPage, 'rect')).toHaveCount(0);
  await expect(shapes(adaPage, 'ellipse')).toHaveCount(1);
  await expect(shapes(bobPage, 'rect')).toHaveCount(0);
  await expect(adaPage.getByTestId('undo')).toBeDisabled();

  await adaPage.getByTestId('redo').click();
  await expect(shapes(adaPage, 'rect')).toHaveCount(1);
  await expect(shapes(bobPage, 'rect')).toHaveCount(1);

  // Keyboard shortcuts do the same.
  await adaPage.keyboard.press('Control+z');
  await expect(shapes(bobPage, 'rect')).toHaveCount(0);
  await adaPage.keyboard.press('Control+Shift+z');
  await expect(shapes(bobPage, 'rect')).toHaveCount(1);
  await expect(shapes(bobPage, 'ellipse')).toHaveCount(1);
});

test('the view pans and zooms without changing the board', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'View');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);
  await draw(page, 'rect', [100, 100], [200, 160]);
  const rect = shapes(page, 'rect');
  const before = await rect.boundingBox();

  await page.getByTestId('zoom-in').click();
  await expect(page.getByTestId('zoom-reset')).toHaveText('125%');
  const zoomed = await rect.boundingBox();
  expect(zoomed!.width).toBeGreaterThan(before!.width * 1.2);

  await page.getByTestId('tool-pan').click();
  await drag(page, [400, 300], [300, 250]);
  const panned = await rect.boundingBox();
  expect(panned!.x).toBeLessThan(zoomed!.x - 90);

  await page.getByTestId('zoom-reset').click();
  await expect(page.getByTestId('zoom-reset')).toHaveText('100%');
  const stored = Object.values(await api.shapes(board, ada.token))[0];
  expect(stored).toMatchObject({ x: 100, y: 100, w: 100, h: 60 });
});

test('after writing a note, a click on the board gives the keyboard back to the board', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Keys');
  const page = await openAs(ada, `/b/${board}`);
  await connected(page);
  await draw(page, 'rect', [300, 100], [400, 160]);
  await draw(page, 'note', [100, 100], [100, 100]);
  const note = page.getByTestId('note-text');
  await note.pressSequentially('Draft');

  // With the select tool: open the note again, type, then click the rectangle.
  await page.getByTestId('tool-select').click();
  await page.locator('[data-shape-type="note"]').dblclick({ position: { x: 60, y: 60 } });
  await expect(note).toBeFocused();
  await note.pressSequentially(' two');
  await drag(page, [350, 130], [350, 130], 1);
  await expect(note).not.toBeFocused();
  await page.keyboard.press('Delete');
  await expect(shapes(page, 'rect')).toHaveCount(0);
  await expect(note).toHaveValue('Draft two');
  await expect.poll(async () => Object.values(await api.shapes(board, ada.token)).map((s) => s.type)).toEqual(['note']);

  // Undo brings the rectangle back.
  await page.keyboard.press('Control+z');
  await expect(shapes(page, 'rect')).toHaveCount(1);
});
