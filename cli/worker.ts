import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stderrLogger } from '../engine/engine.ts';
import type { EngineSetupOptions } from '../nodes/engine-setup.ts';
import { checkQueueUrl, QueueConnectionError, reachRedis } from '../server/distributed/connection.ts';
import { PromptWorker } from '../server/distributed/worker.ts';
import { stopOnSignal } from '../server/stop-on-signal.ts';

/**
 * `sanagraph worker --queue redis://host:port`: runs prompts from a server's distributed queue
 * (docs/scaling.md) until SIGINT/SIGTERM; then the running prompt, if any, goes back to the
 * queue for another worker. Returns the exit code. (main.ts loads this module only for `worker`.)
 */
export interface WorkerCommandOptions {
  queue: string;
  name?: string;
  dataDir?: string;
  stallTimeout: number;
  engine: EngineSetupOptions;
}

export async function workerCommand(opts: WorkerCommandOptions): Promise<number> {
  // Without --data-dir, a folder of our own (several workers may share a machine), removed at exit.
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : mkdtempSync(path.join(os.tmpdir(), 'sanagraph-worker-'));
  const cleanup = () => { if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true }); };
  let worker;
  try {
    const url = checkQueueUrl(opts.queue);
    await reachRedis(url);
    worker = await PromptWorker.start({
      queueUrl: url, id: opts.name, dataDir, stallMs: opts.stallTimeout * 1000, logger: stderrLogger,
      engine: opts.engine,
    });
  } catch (e) {
    cleanup();
    if (!(e instanceof QueueConnectionError)) throw e;
    console.error(`error: ${e.message}`);
    return 1;
  }
  const stopped = stopOnSignal(() => worker.close(), 'the running prompt, if any, goes back to the queue');
  console.log(`sanagraph worker ${worker.id} taking prompts from ${opts.queue}`);
  await stopped;
  cleanup();
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
