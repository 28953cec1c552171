import type { Redis } from 'ioredis';
import { keys, type WorkerInfo } from './protocol.ts';

/**
 * Live workers, for `/queue` and `/system_stats` and for model affinity: each worker refreshes
 * a key with its WorkerInfo every HEARTBEAT_MS; the key expires after TTL_MS, so a worker that
 * died (or lost Redis) drops out of the list by itself.
 */
export const HEARTBEAT_MS = 1000;
const TTL_MS = 5000;

export async function publishWorker(redis: Redis, info: WorkerInfo): Promise<void> {
  await redis.set(keys.worker(info.id), JSON.stringify(info), 'PX', TTL_MS);
}

export async function removeWorker(redis: Redis, id: string): Promise<void> {
  await redis.del(keys.worker(id));
}

/** Every live worker, sorted by id. */
export async function listWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', keys.workerPattern, 'COUNT', 200);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  if (found.length === 0) return [];
  const values = await redis.mget(...found);
  return values.flatMap((v) => (v ? [JSON.parse(v) as WorkerInfo] : [])).sort((a, b) => a.id.localeCompare(b.id));
}
