/**
 * Helpers for the distributed tests and benchmark: a real redis-server on a free loopback port
 * with its own temp folder (append-only file on, so a restart keeps the queue), and
 * `sanagraph serve --queue` / `sanagraph worker` as child processes, as users run them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { tempDir } from '../helpers.ts';
import { CUSTOM_NODES } from './harness.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A child process that announced itself on stdout with a line matching `ready`. */
export interface Child { proc: ChildProcess; match: RegExpExecArray; output: () => string; exited: Promise<number | null> }

function spawnUntil(command: string, args: string[], ready: RegExp): Promise<Child> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += String(d);
      const match = ready.exec(output);
      if (match) resolve({ proc, match, output: () => output, exited });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    exited.then((code) => reject(new Error(`${path.basename(args[1] ?? command)} exited (${code}) before it was ready:\n${output}`)));
  });
}

export async function stop(child: Child | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill(signal);
  await child.exited;
}

export class RedisProcess {
  private child?: Child;
  readonly dir = tempDir('sanagraph-redis-');

  private constructor(readonly port: number) {}

  get url(): string { return `redis://127.0.0.1:${this.port}`; }

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort());
    await redis.restart();
    return redis;
  }

  /** (Re)starts redis-server on the same port and folder: what it persisted comes back. */
  async restart(): Promise<void> {
    await this.stop();
    this.child = await spawnUntil('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--protected-mode', 'no',
    ], /Ready to accept connections/);
  }

  /** A clean shutdown (SIGTERM): Redis flushes its append-only file first. */
  async stop(): Promise<void> {
    await stop(this.child);
    this.child = undefined;
  }

  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: null });
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const BIN = 'bin/sanagraph.js';

/** `sanagraph serve` on a free port, test nodes loaded; with `queue` (a Redis URL) in distributed mode. Resolves with its URL. */
export async function spawnServer(queue: string | undefined, dataDir: string, extra: string[] = []): Promise<Child & { url: string }> {
  const child = await spawnUntil(process.execPath, [
    BIN, 'serve', '--port', '0', ...(queue ? ['--queue', queue] : []), '--data-dir', dataDir, '--custom-nodes', CUSTOM_NODES,
    '--output-dir', path.join(dataDir, 'output'), '--input-dir', path.join(dataDir, 'input'), '--models-dir', '/', ...extra,
  ], /listening on (http:\/\/\S+)/);
  return { ...child, url: child.match[1] };
}

/** `sanagraph worker` with one ONNX Runtime thread and a short stall timeout; resolves with its id. */
export async function spawnWorker(queue: string, name: string, extra: string[] = []): Promise<Child & { id: string }> {
  const child = await spawnUntil(process.execPath, [
    BIN, 'worker', '--queue', queue, '--name', name, '--custom-nodes', CUSTOM_NODES, '--threads', '1',
    '--stall-timeout', '3', '--models-dir', '/', ...extra,
  ], /sanagraph worker (\S+) taking prompts/);
  return { ...child, id: child.match[1] };
}

