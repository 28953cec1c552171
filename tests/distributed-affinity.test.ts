import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { tempDir } from './helpers.ts';
import { RedisProcess, spawnServer, spawnWorker, stop, type Child } from './server-fixtures/cluster.ts';
import { postJson, request, waitUntil, WsClient } from './server-fixtures/harness.ts';
import { tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

/**
 * Model affinity with real processes (docs/scaling.md): an idle worker that holds a prompt's
 * models gets it, even when a worker without them takes it from the queue first; a busy one
 * does not hold prompts back from the others.
 */
describe('distributed execution: model affinity', () => {
  let redis: RedisProcess;
  let server: Child & { url: string };
  const workers: Child[] = [];
  let ws: WsClient;
  let dataDir: string;
  let modelDir: string;

  /** A quick prompt (128², 4 steps), or a longer one (1024², 20 steps: ~1 s on one thread). */
  const queue = async (seed: number, long = false) => {
    const size = long ? { width: 1024, height: 1024 } : { width: 128, height: 128 };
    const res = await postJson(`${server.url}/prompt`, { prompt: await tinyWorkflow(modelDir, { 4: { seed, ...size }, 5: { steps: long ? 20 : 4 } }), client_id: 'tester' });
    assert.equal(res.status, 200, res.text);
    return res.json.prompt_id as string;
  };
  const finished = (id: string) => ws.next((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id);
  const workerOf = async (id: string) => (await request(`${server.url}/history/${id}`)).json[id]?.worker as string;

  before(async () => {
    modelDir = await tinyModels({ layout: 'sanagraph' });
    redis = await RedisProcess.start();
    dataDir = tempDir('sanagraph-affinity-');
    server = await spawnServer(redis.url, dataDir);
    workers.push(await spawnWorker(redis.url, 'holder', ['--device', 'cpu']));
    ws = await WsClient.connect(server.url, { clientId: 'tester' });
    // The first worker loads the tiny model; only then does the second one start.
    const warm = await queue(0);
    await finished(warm);
    assert.equal(await workerOf(warm), 'holder');
    workers.push(await spawnWorker(redis.url, 'newcomer', ['--device', 'cpu']));
    await waitUntil(async () => (await request(`${server.url}/queue`)).json.workers?.length === 2, 'both workers listed');
  });

  after(async () => {
    ws?.close();
    await Promise.all([stop(server), ...workers.map((w) => stop(w))]);
    await redis?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends prompts to the idle worker that already holds their model', async () => {
    const ran: string[] = [];
    for (let seed = 1; seed <= 5; seed++) {
      const id = await queue(seed);
      await finished(id);
      ran.push(await workerOf(id));
    }
    assert.deepEqual(ran, Array(5).fill('holder'), 'the newcomer passed every prompt it took to the holder');
    const listed = (await request(`${server.url}/queue`)).json.workers as { id: string; loaded_models: string[] }[];
    assert.deepEqual(listed.find((w) => w.id === 'newcomer')!.loaded_models, [], 'and never loaded the model');
  });

  it('lets the other worker run a prompt when the holder is busy', async () => {
    const ids = await Promise.all([queue(10, true), queue(11, true), queue(12, true)]);
    await Promise.all(ids.map(finished));
    const ran = await Promise.all(ids.map(workerOf));
    assert.ok(ran.includes('newcomer'), `with the holder busy, the newcomer worked too: ${ran}`);
    assert.ok(ran.includes('holder'), `${ran}`);
  });
});
