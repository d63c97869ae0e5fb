/** Signing up, logging in and out, and the board list: create, open, rename, delete. */
import { connected, expect, test } from './fixtures';

test.describe('accounts', () => {
  // The wrong password below is answered 401, which Chromium logs.
  test.use({ allowConsole: /Failed to load resource: the server responded with a status of 401/ });

  test('a person signs up, logs out and logs in again; the token is kept in localStorage', async ({ openAnonymous }) => {
    const page = await openAnonymous('/');
    const email = `new-${Date.now()}@example.com`;
    await page.getByTestId('auth-toggle').click();
    await page.getByTestId('auth-email').fill(email);
    await page.getByTestId('auth-password').fill('correct horse battery');
    await page.getByTestId('auth-name').fill('Grace');
    await page.getByTestId('auth-submit').click();
    await expect(page.getByTestId('current-user')).toHaveText('Grace');
    const token = await page.evaluate(() => localStorage.getItem('canvas-server.token'));
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    // The session survives a reload.
    await page.reload();
    await expect(page.getByTestId('current-user')).toHaveText('Grace');

    await page.getByTestId('logout').click();
    await expect(page.getByTestId('auth-form')).toBeVisible();
    expect(await page.evaluate(() => localStorage.getItem('canvas-server.token'))).toBeNull();

    await page.getByTestId('auth-email').fill(email);
    await page.getByTestId('auth-password').fill('wrong password');
    await page.getByTestId('auth-submit').click();
    await expect(page.getByTestId('auth-error')).not.toBeEmpty();

    await page.getByTestId('auth-password').fill('correct horse battery');
    await page.getByTestId('auth-submit').click();
    await expect(page.getByTestId('current-user')).toHaveText('Grace');
  });
});

test('a board link opened signed out asks to log in, then opens that board', async ({ api, openAnonymous }) => {
  const ada = await api.register('Ada');
  const board = await api.createBoard(ada, 'Linked');
  const page = await openAnonymous(`/b/${board}`);
  await page.getByTestId('auth-email').fill(ada.email);
  await page.getByTestId('auth-password').fill('correct horse battery');
  await page.getByTestId('auth-submit').click();
  await connected(page);
  await expect(page.getByTestId('board-name')).toHaveText('Linked');
});

test('a person creates, opens, renames and deletes boards', async ({ api, openAs }) => {
  const ada = await api.register('Ada');
  const page = await openAs(ada, '/');
  await expect(page.getByTestId('board-list')).toContainText('No boards yet');

  await page.getByTestId('new-board-name').fill('Roadmap');
  await page.getByTestId('create-board').click();
  await expect(page).toHaveURL(/\/b\/[0-9a-f-]{36}$/);
  await connected(page);
  await expect(page.getByTestId('board-name')).toHaveText('Roadmap');

  await page.getByTestId('back-to-boards').click();
  const item = page.getByTestId('board-item');
  await expect(item).toHaveCount(1);
  await expect(item.getByTestId('board-link')).toHaveText('Roadmap');

  await item.getByTestId('rename-board').click();
  await page.getByTestId('rename-input').fill('Roadmap 2027');
  await page.getByTestId('rename-save').click();
  await expect(item.getByTestId('board-link')).toHaveText('Roadmap 2027');
  const boards = await api.json<{ items: Array<{ name: string }> }>('GET', '/boards', ada.token);
  expect(boards.items.map((b) => b.name)).toEqual(['Roadmap 2027']);

  // Deleting takes a second click.
  await item.getByTestId('delete-board').click();
  await expect(item.getByTestId('delete-board')).toHaveText('Really delete?');
  await item.getByTestId('delete-board').click();
  await expect(page.getByTestId('board-item')).toHaveCount(0);
  const after = await api.json<{ total: number }>('GET', '/boards', ada.token);
  expect(after.total).toBe(0);
});
