import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real redis-server on 127.0.0.1, started and stopped by the test. No skipping: if the server
 * cannot start (not installed: `.ci/run` installs Debian's redis-server), the suite fails loudly.
 */
export class RedisServer {
  private process: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly extra: readonly string[] = [],
  ) {}

  static async start(extra: readonly string[] = []): Promise<RedisServer> {
    requireRedisServer();
    const server = new RedisServer(await freePort(), extra);
    await server.up();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts) the server on the same port; nothing to do while it runs. */
  async up(): Promise<void> {
    if (this.process !== undefined && this.process.exitCode === null) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extra];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

  /** Empties the server: tests that repeat the same ids (once per client kind) start clean. */
  flush(): void {
    this.cli('FLUSHALL');
  }

  /** Runs redis-cli against the server; its output. */
  cli(...args: string[]): string {
    return spawnSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' }).stdout.trim();
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

function requireRedisServer(): void {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error !== undefined || found.status !== 0) {
    throw new Error('redis-server is not installed: the Redis tests need it (apt-get install -y redis-server; .ci/run does this)');
  }
}

/** The variable through which `.ci/run` names its cluster: `127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`. */
export const CLUSTER_ENV = 'TOKENGATE_REDIS_CLUSTER';

/**
 * A 3-master Redis Cluster (no replicas) on 127.0.0.1. In CI (`CI` set), `.ci/run` starts it and
 * names its nodes in {@link CLUSTER_ENV}, and a missing variable fails the suite; elsewhere, without
 * the variable, the test starts its own (redis-server `--cluster-enabled yes` on three free ports,
 * joined with `redis-cli --cluster create`) and stops it afterwards.
 */
export class RedisCluster {
  private constructor(
    readonly nodes: ReadonlyArray<{ host: string; port: number }>,
    private readonly owned: RedisServer[],
    private readonly dir: string | undefined,
  ) {}

  static async acquire(): Promise<RedisCluster> {
    const named = process.env[CLUSTER_ENV];
    if (named !== undefined && named.trim() !== '') {
      const nodes = named.split(',').map((address) => {
        const [host, port] = address.trim().split(':');
        return { host: host!, port: Number(port) };
      });
      if (nodes.some((node) => !node.host || !Number.isInteger(node.port))) throw new Error(`${CLUSTER_ENV} must list host:port pairs separated by commas, got "${named}"`);
      return new RedisCluster(nodes, [], undefined);
    }
    if (process.env.CI) throw new Error(`${CLUSTER_ENV} is not set: in CI, .ci/run starts a 3-node Redis Cluster and names its nodes there`);
    requireRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'tokengate-cluster-'));
    const servers: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const port = await freePort(true);
        const server = new RedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir]);
        await server.up();
        servers.push(server);
      }
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
      const cluster = new RedisCluster(servers.map((s) => ({ host: '127.0.0.1', port: s.port })), servers, dir);
      await cluster.waitUntilOk();
      return cluster;
    } catch (error) {
      for (const server of servers) await server.down();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Waits until every node says `cluster_state:ok`. */
  async waitUntilOk(ms = 15_000): Promise<void> {
    const started = Date.now();
    for (;;) {
      const states = this.nodes.map((node) => spawnSync('redis-cli', ['-h', node.host, '-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout ?? '');
      if (states.every((info) => info.includes('cluster_state:ok'))) return;
      if (Date.now() - started > ms) throw new Error(`the Redis Cluster is not ok after ${ms} ms:\n${states.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Runs redis-cli against one node; its output. */
  cli(node: number, ...args: string[]): string {
    const { host, port } = this.nodes[node]!;
    return spawnSync('redis-cli', ['-h', host, '-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
  }

  /** Stops the nodes this test started (a cluster named by the environment is left running). */
  async stop(): Promise<void> {
    for (const server of this.owned) await server.down();
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A free port below Linux's ephemeral range (32768 and up). A client reconnecting to a stopped
 * server on an ephemeral port can be handed that same port as its own source port and connect to
 * itself (TCP simultaneous open); the restarted server then finds its port taken.
 */
async function freePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // A cluster node also listens on its port + 10000 (the cluster bus), kept below 32000 too.
    const port = 20_000 + Math.floor(Math.random() * (withBus ? 2_000 : 12_000));
    if ((await isFree(port)) && (!withBus || (await isFree(port + 10_000)))) return port;
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
