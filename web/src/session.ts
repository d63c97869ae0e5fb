/**
 * The signed-in session: one REST client for the whole page, its token kept
 * in `localStorage['canvas-server.token']` (the contract's key, so another
 * page of the same origin shares the login).
 */
import { CanvasApiError, createClient, type CanvasClient, type User } from '../../clients/typescript/src/index';

export const TOKEN_KEY = 'canvas-server.token';

function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage may be disabled (private modes): the session then lasts as long as the page.
  }
}

/** The page's client; every REST call and board connection goes through it. */
export const client: CanvasClient = createClient({ token: storedToken() });
client.onTokenChange(storeToken);

let currentUser: User | null = null;

/** The signed-in user, asked of the server once per page; `null` when signed out. */
export async function me(): Promise<User | null> {
  if (client.token === null) return null;
  if (currentUser) return currentUser;
  try {
    currentUser = await client.me();
    return currentUser;
  } catch (error) {
    if (error instanceof CanvasApiError && error.status === 401) {
      client.setToken(null);
      return null;
    }
    throw error;
  }
}

/** Remembers the user that register or login returned. */
export function signedIn(user: User): void {
  currentUser = user;
}

export function signOut(): void {
  currentUser = null;
  client.setToken(null);
}

/** The name shown for a user: the display name, else the email. */
export function nameOf(user: Pick<User, 'email' | 'display_name'>): string {
  return user.display_name?.trim() || user.email;
}

/** A message for the person from any error. */
export function messageOf(error: unknown): string {
  if (error instanceof CanvasApiError) return error.message;
  if (error instanceof Error) return `Could not reach the server (${error.message})`;
  return 'Something went wrong';
}
