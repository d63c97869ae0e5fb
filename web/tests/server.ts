/**
 * The real `canvas-server` binary for the browser tests: a free port, a
 * temporary SQLite file, rate limits off, and a fixed JWT secret so that
 * tokens outlive a restart. The test can stop and restart it on the same
 * port and database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The binary under test: `SERVER_BIN`, else the debug build cargo made. */
export function serverBinary(): string {
  const target = process.env.CARGO_TARGET_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../target');
  const binary = process.env.SERVER_BIN ?? join(target, 'debug', 'canvas-server');
  if (!existsSync(binary)) {
    throw new Error(`no server binary at ${binary}: run \`cargo build\` (with the same CARGO_TARGET_DIR) or set SERVER_BIN`);
  }
  return binary;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

export class ServerProcess {
  private child: ChildProcess | null = null;
  private log = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'canvas-web-'));

  private constructor(readonly port: number) {}

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<ServerProcess> {
    const server = new ServerProcess(await freePort());
    await server.launch();
    return server;
  }

  /** The server's output so far (for failure messages). */
  output(): string {
    return this.log;
  }

  private async launch(env: Record<string, string> = {}): Promise<void> {
    this.log = '';
    const child = spawn(serverBinary(), [], {
      cwd: this.dir,
      env: {
        PATH: process.env.PATH ?? '',
        BIND_ADDR: `127.0.0.1:${this.port}`,
        DATABASE_URL: `sqlite://${join(this.dir, 'canvas.db')}`,
        JWT_SECRET: 'browser-tests-secret-0123456789abcdef',
        RATE_LOGIN_PER_MIN: '0',
        RATE_WS_CONNECT_PER_MIN: '0',
        RATE_WS_MSGS_PER_SEC: '0',
        RATE_MEMBER_ADDS_PER_MIN: '0',
        SHUTDOWN_TIMEOUT_MS: '5000',
        RUST_LOG: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<never>((_, fail) =>
      child.once('exit', (code) => fail(new Error(`canvas-server exited (${code}) before it was ready:\n${this.log}`))),
    );
    await Promise.race([this.waitReady(), exited]);
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.baseURL}/readyz`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`canvas-server was not ready within 20 s:\n${this.log}`);
  }

  /** SIGTERM (the server saves every board), then wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts a stopped server again on the same port and database, with `env` overriding its variables. */
  async resume(env: Record<string, string> = {}): Promise<void> {
    if (this.child) throw new Error('the server is running');
    await this.launch(env);
  }

  /** Stops the server and starts it again on the same port and database. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
