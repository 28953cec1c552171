import { rmSync } from 'node:fs';
import os from 'node:os';
import { tempDir } from '../tests/helpers.ts';
import { RedisProcess, spawnServer, spawnWorker, stop, type Child } from '../tests/server-fixtures/cluster.ts';
import { cheapPrompt, postJson, WsClient } from '../tests/server-fixtures/harness.ts';
import { tinyModels, tinyWorkflow } from '../tests/tiny-fixtures.ts';
import { median, round, type Metric } from './util.ts';

/**
 * Distributed execution, with real processes (redis-server, `serve --queue`, `sanagraph worker`):
 * - `distributed.scaling_2w`: throughput of tiny-model prompts with 2 workers ÷ with 1 worker,
 *   each worker on one ONNX Runtime thread (on a 2-core machine, 2 is the most it can reach).
 * - `distributed.queue_overhead_ms`: median time from POST /prompt to the client's final
 *   `executing: null` for a model-free prompt, through Redis and a worker, minus the same in
 *   single-process mode (`serve` without --queue).
 */
const PROMPTS = 12;
const LATENCY_RUNS = 30;

async function withCluster<T>(workerCount: number, fn: (url: string) => Promise<T>): Promise<T> {
  const redis = await RedisProcess.start();
  const dataDir = tempDir('sanagraph-bench-dist-');
  const children: Child[] = [];
  try {
    const [server, ...workers] = await Promise.all([
      spawnServer(redis.url, dataDir),
      ...Array.from({ length: workerCount }, (_, i) => spawnWorker(redis.url, `bench-${i + 1}`, ['--device', 'cpu'])),
    ]);
    children.push(server, ...workers);
    return await fn(server.url);
  } finally {
    await Promise.all(children.map((c) => stop(c)));
    await redis.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Prompts per second over PROMPTS tiny-model prompts (each a new seed: nothing comes from the
 * cache). Completion is heard on the WebSocket, as a client would, not by polling the server
 * (polling /prompt 50 times a second cost the server and Redis a tenth of a core).
 */
async function throughput(url: string, workers: number, modelDir: string): Promise<number> {
  const ws = await WsClient.connect(url, { clientId: 'bench' });
  let seed = 0;
  const post = async () => (await postJson(`${url}/prompt`, {
    client_id: 'bench',
    prompt: await tinyWorkflow(modelDir, { 1: { device: 'auto' }, 4: { seed: ++seed, width: 1024, height: 1024 }, 5: { steps: 30 } }),
  })).json.prompt_id as string;
  // Finished prompts, from the final `executing: null` of each (counted as they arrive: cheap).
  const finished = new Set<string>();
  const waiters = new Set<() => void>();
  ws.ws.on('message', (data, binary) => {
    if (binary) return;
    const m = JSON.parse(String(data)) as { type: string; data: { node?: unknown; prompt_id?: string } };
    if (m.type === 'executing' && m.data.node === null && m.data.prompt_id) finished.add(m.data.prompt_id);
    for (const wake of waiters) wake();
  });
  const done = (ids: string[]) => new Promise<void>((resolve) => {
    const check = () => { if (ids.every((id) => finished.has(id))) { waiters.delete(check); resolve(); } };
    waiters.add(check);
    check();
  });
  try {
    // Warm up: every worker loads the models (as many prompts at once as workers, twice).
    for (let round = 0; round < 2; round++) await done(await Promise.all(Array.from({ length: workers }, post)));
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < PROMPTS; i++) ids.push(await post());
    await done(ids);
    return PROMPTS / ((performance.now() - t0) / 1000);
  } finally {
    ws.close();
  }
}

/** Median ms from POST /prompt to `executing: null`, one prompt at a time. */
async function latency(url: string): Promise<number> {
  const ws = await WsClient.connect(url, { clientId: 'bench' });
  const times: number[] = [];
  try {
    for (let i = 0; i < LATENCY_RUNS + 3; i++) {
      const from = ws.messages.length;
      const t0 = performance.now();
      const res = await postJson(`${url}/prompt`, { prompt: cheapPrompt(i), client_id: 'bench' });
      await ws.next((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === res.json.prompt_id, from);
      if (i >= 3) times.push(performance.now() - t0); // the first runs warm up both sides
    }
  } finally {
    ws.close();
  }
  return median(times);
}

async function singleProcessLatency(): Promise<number> {
  const dataDir = tempDir('sanagraph-bench-local-');
  const server = await spawnServer(undefined, dataDir); // the same server, without --queue
  try {
    return await latency(server.url);
  } finally {
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function distributedBench(): Promise<Metric[]> {
  const modelDir = await tinyModels({ layout: 'sanagraph' });
  const one = await withCluster(1, (url) => throughput(url, 1, modelDir));
  const two = await withCluster(2, (url) => throughput(url, 2, modelDir));
  const local = await singleProcessLatency();
  const remote = await withCluster(1, latency);
  return [
    { metric: 'distributed.throughput_1w', value: round(one, 2), unit: 'p/s' },
    { metric: 'distributed.throughput_2w', value: round(two, 2), unit: 'p/s' },
    { metric: 'distributed.scaling_2w', value: round(two / one, 2), unit: 'x', target: `>= 1.7 (${os.cpus().length} cores)` },
    { metric: 'distributed.latency_local_ms', value: round(local, 1), unit: 'ms' },
    { metric: 'distributed.queue_overhead_ms', value: round(remote - local, 1), unit: 'ms' },
  ];
}
