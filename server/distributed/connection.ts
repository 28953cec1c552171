import type { RedisOptions as BullConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Redis connections for the distributed queue. One URL (`redis://[user:pass@]host:port[/db]`,
 * `rediss://` for TLS) configures every connection; each reconnects by itself, forever, with a
 * short capped delay, so a Redis restart needs nobody's help.
 */
export class QueueConnectionError extends Error {
  constructor(message: string) { super(message); this.name = 'QueueConnectionError'; }
}

/** Checks a `--queue` value; the message says what a valid one looks like. */
export function checkQueueUrl(url: string): string {
  let parsed: URL | undefined;
  try { parsed = new URL(url); } catch { /* reported below */ }
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    throw new QueueConnectionError(`--queue must be a Redis URL such as redis://127.0.0.1:6379 (got "${url}")`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new QueueConnectionError(`--queue ${url}: the path must be a database number, e.g. redis://host:6379/0`);
  return url;
}

/** Reconnect after 100 ms, 200 ms, ... at most every 2 s, never giving up. */
const retryStrategy = (times: number) => Math.min(times * 100, 2000);

/**
 * Options for BullMQ's own connections. `maxRetriesPerRequest: null` (BullMQ requires it for
 * workers and event readers) keeps commands waiting through a Redis restart instead of failing.
 */
export function bullConnection(url: string): BullConnectionOptions {
  return { url, maxRetriesPerRequest: null, retryStrategy, enableReadyCheck: true };
}

/** A plain client for our own keys (registry, files, control channel). */
export function redisClient(url: string, name: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy, connectionName: name });
  client.on('error', () => {}); // reconnects by itself; errors while Redis is away are expected
  return client;
}

/**
 * Checks that Redis answers, before anything that reconnects forever is created; fails with a
 * clear message when it does not answer in time (a wrong host, Redis not started).
 */
export async function reachRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy });
  probe.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueConnectionError(`cannot reach Redis at ${url} (is redis-server running there?)`)), timeoutMs);
  });
  try {
    await Promise.race([probe.ping(), late]);
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}
