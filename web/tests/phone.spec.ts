/** A phone-sized viewport: the toolbar fits, and touch draws shapes. */
import { connected, expect, test } from './fixtures';

test('on a phone the toolbar fits and a tap with the rectangle tool draws', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Pocket');
  const page = await openAs(ada, `/b/${board}`, { viewport: { width: 390, height: 844 }, hasTouch: true });
  await connected(page);

  const toolbar = page.getByTestId('toolbar');
  await expect(toolbar).toBeVisible();
  const bar = await toolbar.boundingBox();
  expect(bar!.width).toBeLessThanOrEqual(390);
  // On a phone the toolbar sits at the bottom, in thumb reach.
  expect(bar!.y).toBeGreaterThan(844 / 2);
  const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(pageWidth).toBeLessThanOrEqual(390);

  await page.getByTestId('tool-rect').tap();
  const canvas = await page.getByTestId('board-canvas').boundingBox();
  await page.touchscreen.tap(canvas!.x + 80, canvas!.y + 120);
  await expect(page.locator('[data-shape-type="rect"]')).toBeVisible();
  await expect
    .poll(async () => Object.values(await api.shapes(board, ada.token)).map((s) => s.type))
    .toEqual(['rect']);
});

test('on a phone two fingers zoom the board', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Pinch');
  const page = await openAs(ada, `/b/${board}`, { viewport: { width: 390, height: 844 }, hasTouch: true });
  await connected(page);
  await expect(page.getByTestId('zoom-reset')).toHaveText('100%');

  // Playwright has no pinch: send the touches through the DevTools protocol.
  const cdp = await page.context().newCDPSession(page);
  const box = (await page.getByTestId('board-canvas').boundingBox())!;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const fingers = (spread: number) => [
    { x: cx - spread, y: cy, id: 1 },
    { x: cx + spread, y: cy, id: 2 },
  ];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: fingers(40) });
  for (let spread = 50; spread <= 120; spread += 10) {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: fingers(spread) });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });

  await expect(page.getByTestId('zoom-reset')).not.toHaveText('100%');
  const zoom = Number((await page.getByTestId('zoom-reset').textContent())?.replace('%', ''));
  expect(zoom).toBeGreaterThan(200);
  // A pinch draws nothing.
  await expect(page.locator('[data-testid="shape"]')).toHaveCount(0);
});
