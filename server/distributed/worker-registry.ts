import type { Redis } from 'ioredis';
import { keys, type WorkerInfo } from './protocol.ts';

/**
 * Live workers, for `/queue` and `/system_stats` and for model affinity: each worker refreshes
 * a key with its WorkerInfo every HEARTBEAT_MS; the key expires after TTL_MS, so a worker that
 * died (or lost Redis) drops out of the list by itself. A set of ids names the keys, so listing
 * costs two round trips however many jobs and files Redis holds (no SCAN over every key).
 */
export const HEARTBEAT_MS = 1000;
const TTL_MS = 5000;

export async function publishWorker(redis: Redis, info: WorkerInfo): Promise<void> {
  await redis.multi().set(keys.worker(info.id), JSON.stringify(info), 'PX', TTL_MS).sadd(keys.workerIds, info.id).exec();
}

export async function removeWorker(redis: Redis, id: string): Promise<void> {
  await redis.multi().del(keys.worker(id)).srem(keys.workerIds, id).exec();
}

/** Every live worker, sorted by id. */
export async function listWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const ids = await redis.smembers(keys.workerIds);
  if (ids.length === 0) return [];
  const values = await redis.mget(...ids.map(keys.worker));
  const expired = ids.filter((_, i) => values[i] === null);
  if (expired.length) void redis.srem(keys.workerIds, ...expired).catch(() => {}); // their keys timed out
  return values.flatMap((v) => (v ? [JSON.parse(v) as WorkerInfo] : [])).sort((a, b) => a.id.localeCompare(b.id));
}
