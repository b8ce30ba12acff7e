import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A real redis-server on 127.0.0.1, started and stopped by the test. No skipping: if the server
 * cannot start (not installed: `.ci/run` installs Debian's redis-server), the suite fails loudly.
 */
export class RedisServer {
  private process: ChildProcess | undefined;
  constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (found.error !== undefined || found.status !== 0) {
      throw new Error('redis-server is not installed: the Redis tests need it (apt-get install -y redis-server; .ci/run does this)');
    }
    const server = new RedisServer(await freePort());
    await server.up();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts) the server on the same port; nothing to do while it runs. */
  async up(): Promise<void> {
    if (this.process !== undefined && this.process.exitCode === null) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${this.port}:\n${output}`)), 5000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}):\n${output}`));
      });
    });
  }

  /** Stops the server (SIGKILL: an outage, not a clean shutdown). */
  async down(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.process = undefined;
  }
}

/**
 * A free port below Linux's ephemeral range (32768 and up). A client reconnecting to a stopped
 * server on an ephemeral port can be handed that same port as its own source port and connect to
 * itself (TCP simultaneous open); the restarted server then finds its port taken.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await isFree(port)) return port;
  }
  throw new Error('no free port for redis-server between 20000 and 32000');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
