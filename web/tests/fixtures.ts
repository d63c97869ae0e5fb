/**
 * The fixtures of the browser tests: a fresh server per test, accounts and
 * boards made over REST, and pages signed in as a given account. Every page
 * is watched: a console error or a request to another origin fails the test.
 */
import { test as base, expect, type Browser, type Locator, type Page } from '@playwright/test';
import * as Y from 'yjs';

import { ServerProcess } from './server';

export { expect };

export interface Account {
  id: string;
  email: string;
  name: string;
  token: string;
}

/** REST calls the tests make to set things up and to check stored content. */
export class Api {
  constructor(private readonly server: ServerProcess) {}

  async call(method: string, path: string, token: string | null, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: BodyInit | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = 'application/octet-stream';
      payload = new Blob([body as Uint8Array<ArrayBuffer>]);
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    return fetch(`${this.server.baseURL}/api/v1${path}`, { method, headers, body: payload });
  }

  async json<T>(method: string, path: string, token: string | null, body?: unknown): Promise<T> {
    const response = await this.call(method, path, token, body);
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async register(name: string): Promise<Account> {
    const email = `${name.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const auth = await this.json<{ token: string; user: { id: string } }>('POST', '/auth/register', null, {
      email,
      password: 'correct horse battery',
      display_name: name,
    });
    return { id: auth.user.id, email, name, token: auth.token };
  }

  async createBoard(owner: Account, name: string): Promise<string> {
    const board = await this.json<{ id: string }>('POST', '/boards', owner.token, { name });
    return board.id;
  }

  async share(boardId: string, owner: Account, member: Account, role: 'editor' | 'viewer'): Promise<void> {
    await this.json('PUT', `/boards/${boardId}/members`, owner.token, { email: member.email, role });
  }

  /** The board's stored shapes as plain objects, decoded with yjs. */
  async shapes(boardId: string, token: string): Promise<Record<string, Record<string, unknown>>> {
    const response = await this.call('GET', `/boards/${boardId}/state`, token);
    if (!response.ok) throw new Error(`state: ${response.status}`);
    const doc = new Y.Doc();
    Y.applyUpdate(doc, new Uint8Array(await response.arrayBuffer()));
    return doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>;
  }
}

/** What a watched page did wrong. */
export interface PageProblems {
  consoleErrors: string[];
  foreignRequests: string[];
}

type Fixtures = {
  server: ServerProcess;
  api: Api;
  /** Opens a page signed in as `account` (a new browser context each). */
  openAs: (account: Account, path: string, options?: { viewport?: { width: number; height: number }; hasTouch?: boolean }) => Promise<Page>;
  /** Opens a page signed out. */
  openAnonymous: (path: string) => Promise<Page>;
};

function watch(page: Page, origin: string, problems: PageProblems): void {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => problems.consoleErrors.push(`uncaught: ${error.message}`));
  page.on('request', (request) => {
    const url = new URL(request.url());
    const sameOrigin = url.host === new URL(origin).host && ['http:', 'ws:'].includes(url.protocol);
    if (!sameOrigin && url.protocol !== 'data:') problems.foreignRequests.push(request.url());
  });
  page.on('websocket', (socket) => {
    if (new URL(socket.url()).host !== new URL(origin).host) problems.foreignRequests.push(socket.url());
  });
}

/**
 * What Chromium logs while the server is down (a socket or the client's REST
 * check cannot connect) or refuses an old token:
 * tests that provoke that on purpose allow it with `test.use({allowConsole})`.
 */
export const REFUSED_CONNECTION =
  /WebSocket connection to .* failed|Failed to load resource: (net::ERR_CONNECTION_REFUSED|the server responded with a status of 401)/;

export const test = base.extend<Fixtures & { problems: PageProblems; allowConsole: RegExp | null }>({
  // One pattern, not a list: test.use() would read a list as a fixture definition.
  allowConsole: [null, { option: true }],
  server: async ({}, use) => {
    const server = await ServerProcess.start();
    await use(server);
    await server.dispose();
  },
  api: async ({ server }, use) => {
    await use(new Api(server));
  },
  problems: async ({ allowConsole }, use) => {
    const problems: PageProblems = { consoleErrors: [], foreignRequests: [] };
    await use(problems);
    const unexpected = problems.consoleErrors.filter(
      (text) => !allowConsole?.test(text),
    );
    expect(unexpected, 'console errors').toEqual([]);
    expect(problems.foreignRequests, 'requests to another origin').toEqual([]);
  },
  openAs: async ({ browser, server, problems }, use) => {
    const contexts: Awaited<ReturnType<Browser['newContext']>>[] = [];
    await use(async (account, path, options = {}) => {
      const context = await browser.newContext({ baseURL: server.baseURL, ...options });
      contexts.push(context);
      await context.addInitScript((token) => {
        if (!localStorage.getItem('canvas-server.token')) localStorage.setItem('canvas-server.token', token);
      }, account.token);
      const page = await context.newPage();
      watch(page, server.baseURL, problems);
      await page.goto(path);
      return page;
    });
    for (const context of contexts) await context.close();
  },
  openAnonymous: async ({ browser, server, problems }, use) => {
    const contexts: Awaited<ReturnType<Browser['newContext']>>[] = [];
    await use(async (path) => {
      const context = await browser.newContext({ baseURL: server.baseURL });
      contexts.push(context);
      const page = await context.newPage();
      watch(page, server.baseURL, problems);
      await page.goto(path);
      return page;
    });
    for (const context of contexts) await context.close();
  },
});

/** The board's drawing surface. */
export function canvas(page: Page): Locator {
  return page.getByTestId('board-canvas');
}

/** Waits until the page's board connection is up. */
export async function connected(page: Page): Promise<void> {
  await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'connected');
}

/** Drags on the canvas from one point to another (in pixels from its top left), in steps. */
export async function drag(page: Page, from: [number, number], to: [number, number], steps = 8): Promise<void> {
  const box = await canvas(page).boundingBox();
  if (!box) throw new Error('the canvas is not visible');
  await page.mouse.move(box.x + from[0], box.y + from[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + to[0], box.y + to[1], { steps });
  await page.mouse.up();
}

/** Picks a tool and drags with it. */
export async function draw(page: Page, tool: string, from: [number, number], to: [number, number]): Promise<void> {
  await page.getByTestId(`tool-${tool}`).click();
  await drag(page, from, to);
}

/** The drawn shapes of a type on a page. */
export function shapes(page: Page, type?: string): Locator {
  return page.locator(type ? `[data-testid="shape"][data-shape-type="${type}"]` : '[data-testid="shape"]');
}
