import path from 'node:path';
import type { Logger } from '../../engine/node.ts';
import type { EngineSetupOptions } from '../../nodes/engine-setup.ts';
import type { ClientHub } from '../ws.ts';
import { Cluster } from './cluster.ts';
import { checkQueueUrl, reachRedis } from './connection.ts';
import type { FinishedHistory } from './redis-queue.ts';
import { PromptWorker } from './worker.ts';

export { QueueConnectionError } from './connection.ts';

/**
 * `serve --queue redis://...`: the server's Cluster (queue, event relay, collection) and, with
 * `--local-worker`, a worker in the server's process with its own engine thread.
 */
export interface DistributedOptions {
  url: string;
  history: FinishedHistory;
  hub: ClientHub;
  dirs: { output: string; temp: string };
  maxPending: number;
  dataDir: string;
  /** Run a worker here too, with these engine settings. */
  localWorker?: { engine: EngineSetupOptions };
  logger: Logger;
}

export async function startDistributed(opts: DistributedOptions): Promise<{ cluster: Cluster; close(): Promise<void> }> {
  const url = checkQueueUrl(opts.url);
  await reachRedis(url);
  const cluster = new Cluster({ url, history: opts.history, hub: opts.hub, dirs: opts.dirs, maxPending: opts.maxPending, logger: opts.logger });
  let worker: PromptWorker | undefined;
  try {
    await cluster.ready();
    if (opts.localWorker) {
      worker = await PromptWorker.start({ queueUrl: url, dataDir: path.join(opts.dataDir, 'local-worker'), logger: opts.logger, ...opts.localWorker });
    }
  } catch (e) {
    await cluster.close();
    throw e;
  }
  return {
    cluster,
    close: async () => {
      await worker?.close(); // its running prompt goes back to the queue
      await cluster.close();
    },
  };
}
