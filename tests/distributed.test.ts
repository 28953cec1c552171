import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { PREFIX, QUEUE_NAME } from '../server/distributed/protocol.ts';
import { tempDir } from './helpers.ts';
import {
  RedisProcess, spawnServer, spawnWorker, stop, type Child,
} from './server-fixtures/cluster.ts';
import { postJson, request, slowPrompt, waitForIdle, waitUntil, WsClient, type Message } from './server-fixtures/harness.ts';
import { tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

/**
 * Distributed execution with real processes: redis-server (append-only file on), `sanagraph
 * serve --queue`, and three `sanagraph worker`s (one ONNX Runtime thread each, 3 s stall
 * timeout). The last test kills a worker with SIGKILL mid-job and restarts Redis once.
 */
let redis: RedisProcess;
let server: Child & { url: string };
let workers: (Child & { id: string })[];
let ws: WsClient;
let dataDir: string;
let modelDir: string;

async function queue(prompt: unknown): Promise<string> {
  const res = await postJson(`${server.url}/prompt`, { prompt, client_id: 'tester' });
  assert.equal(res.status, 200, res.text);
  return res.json.prompt_id;
}

async function historyOf(id: string): Promise<any> {
  return (await request(`${server.url}/history/${id}`)).json[id];
}

/** The last run of a prompt, as the client saw it: start, cached, nodes..., success/error, then `executing: null`. */
function lastRun(promptId: string): Message[] {
  const about = ws.about(promptId);
  const start = about.findLastIndex((m) => m.type === 'execution_start');
  assert.ok(start >= 0, `no execution_start for ${promptId}: ${about.map((m) => m.type).join(', ')}`);
  return about.slice(start);
}

async function assertInOrder(promptId: string, end = 'execution_success'): Promise<void> {
  // The history is written before the server sends the final `executing: null`: wait for that message.
  await ws.next((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === promptId);
  const run = lastRun(promptId);
  const types = run.map((m) => m.type);
  assert.deepEqual(types.slice(0, 2), ['execution_start', 'execution_cached'], types.join(', '));
  assert.equal(types.at(-2), end, types.join(', '));
  assert.deepEqual(run.at(-1), { type: 'executing', data: { node: null, prompt_id: promptId } });
  assert.equal(types.filter((t) => t === end).length, 1, types.join(', '));
  // Within a node, progress only goes up.
  const progress = run.filter((m) => m.type === 'progress');
  progress.slice(1).forEach((m, i) => {
    if (m.data.node === progress[i].data.node) assert.ok(m.data.value > progress[i].data.value, JSON.stringify([progress[i].data, m.data]));
  });
}

describe('distributed execution (BullMQ on Redis, worker processes)', () => {
  before(async () => {
    modelDir = await tinyModels({ layout: 'sanagraph' });
    redis = await RedisProcess.start();
    dataDir = tempDir('sanagraph-dist-');
    [server, ...workers] = await Promise.all([
      spawnServer(redis.url, dataDir),
      ...['w1', 'w2', 'w3'].map((name) => spawnWorker(redis.url, name, ['--device', 'cpu'])),
    ]);
    ws = await WsClient.connect(server.url, { clientId: 'tester' });
  });

  after(async () => {
    ws?.close();
    await Promise.all([stop(server), ...(workers ?? []).map((w) => stop(w))]);
    await redis?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists the workers in /queue and /system_stats', async () => {
    const listed = await waitUntil(async () => {
      const q = (await request(`${server.url}/queue`)).json;
      return q.workers?.length === 3 && q;
    }, 'three workers in /queue');
    assert.deepEqual(listed.workers.map((w: any) => w.id), ['w1', 'w2', 'w3']);
    for (const w of listed.workers) {
      assert.equal(w.device, 'cpu');
      assert.equal(w.current_prompt, null);
      assert.deepEqual(w.loaded_models, []);
    }
    const stats = (await request(`${server.url}/system_stats`)).json;
    assert.equal(stats.workers.length, 3);
    assert.ok(stats.system.sanagraph_version, 'the usual system_stats fields are still there');
  });

  it('a node that fails (a missing model folder) is reported to the client and not retried', async () => {
    const id = await queue(await tinyWorkflow(path.join(dataDir, 'no-such-model'), { 1: { device: 'auto' } }));
    await assertInOrder(id, 'execution_error');
    const error = lastRun(id).find((m) => m.type === 'execution_error')!;
    assert.equal(error.data.node_id, '1');
    assert.match(error.data.exception_message, /no-such-model/);
    const entry = await historyOf(id);
    assert.equal(entry.status.status_str, 'error');
    assert.equal(ws.about(id).filter((m) => m.type === 'execution_start').length, 1, 'ran once');
  });

  it('a prompt no worker can parse fails at once (no retries), with its error sent to the client', async () => {
    // Straight onto the queue, past the server's validation (a worker with other nodes, say).
    const bull = new Queue(QUEUE_NAME, { connection: { url: redis.url }, prefix: PREFIX });
    try {
      const data = { promptId: 'broken-1', number: 999, prompt: { format: 'sanagraph/workflow@1', nodes: 'not nodes' }, extraData: { client_id: 'tester' }, outputsToExecute: [] };
      await bull.add('prompt', data, { jobId: 'broken-1', attempts: 3 });
      const error = await ws.next((m) => m.type === 'execution_error' && m.data.prompt_id === 'broken-1');
      assert.match(error.data.exception_message, /^malformed workflow:[^]*\(worker w\d, attempt 1 of 3\)$/);
      await ws.next((m) => m.type === 'executing' && m.data.prompt_id === 'broken-1' && m.data.node === null);
      const entry = await historyOf('broken-1');
      assert.equal(entry.status.status_str, 'error');
      assert.equal(await bull.getJob('broken-1'), undefined, 'recorded, then removed from the queue');
    } finally {
      await bull.close();
    }
  });

  it('interrupts a prompt running on a worker', async () => {
    const id = await queue(slowPrompt(50, 20_000, 200));
    await ws.next((m) => m.type === 'progress' && m.data.prompt_id === id);
    const t0 = Date.now();
    assert.equal((await postJson(`${server.url}/interrupt`, { prompt_id: id })).status, 200);
    await ws.next((m) => m.type === 'executing' && m.data.prompt_id === id && m.data.node === null);
    assert.ok(Date.now() - t0 < 5000, 'stopped promptly');
    await assertInOrder(id, 'execution_interrupted');
    assert.equal((await historyOf(id)).status.status_str, 'error');
  });

  it('a worker killed mid-job and a Redis restart lose nothing: every prompt completes once, with its outputs, events in order', async () => {
    const images = [await queue(await tinyWorkflow(modelDir, { 1: { device: 'auto' }, 5: { steps: 3 } })),
      await queue(await tinyWorkflow(modelDir, { 1: { device: 'auto' }, 4: { seed: 7 }, 5: { steps: 3 } }))];
    const long = await queue(slowPrompt(1000, 4000, 40));
    const short = [];
    for (let i = 1; i <= 5; i++) short.push(await queue(slowPrompt(1000 + i, 200, 2)));

    // Kill whichever worker runs the long prompt, while it is inside its node.
    await ws.next((m) => m.type === 'progress' && m.data.prompt_id === long);
    const running = await waitUntil(async () => (await request(`${server.url}/queue`)).json.workers.find((w: any) => w.current_prompt === long), 'the long prompt\'s worker');
    const victim = workers.find((w) => w.id === running.id)!;
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await redis.restart();

    await waitForIdle(server.url);
    // Every prompt once in the history, succeeded, with its own output.
    const history = (await request(`${server.url}/history`)).json;
    for (const id of [...images, long, ...short]) {
      assert.equal(history[id]?.status.status_str, 'success', `${id}: ${JSON.stringify(history[id]?.status)}`);
      assert.equal(history[id].status.messages.filter((m: [string]) => m[0] === 'execution_start').length, 1, `${id}: one recorded run`);
      await assertInOrder(id);
    }
    assert.deepEqual(history[long].outputs, { 2: { text: ['value 1000'] } });
    short.forEach((id, i) => assert.deepEqual(history[id].outputs, { 2: { text: [`value ${1001 + i}`] } }));
    assert.ok(ws.about(long).filter((m) => m.type === 'execution_start').length >= 2, 'the long prompt ran again on another worker');

    // The images came over to the server's output folder: each once, served by /view.
    const outputDir = path.join(dataDir, 'output');
    const recorded = images.flatMap((id) => Object.values(history[id].outputs).flatMap((o: any) => Object.values(o).flat() as any[]));
    assert.equal(recorded.length, 4, JSON.stringify(recorded));
    for (const file of recorded) {
      assert.ok(existsSync(path.join(outputDir, file.subfolder, file.filename)), file.filename);
      const executed = ws.about(images[0]).concat(ws.about(images[1])).filter((m) => m.type === 'executed').flatMap((m) => Object.values(m.data.output).flat() as any[]);
      assert.ok(executed.some((e) => e.filename === file.filename), `the client was told about ${file.filename}`);
    }
    assert.equal(readdirSync(outputDir).length, 4, `no duplicate files: ${readdirSync(outputDir).join(', ')}`);
    const png = recorded.find((f) => f.filename.endsWith('.png'));
    const view = await fetch(`${server.url}/view?filename=${png.filename}&type=output`);
    assert.equal(view.status, 200);
    assert.equal(view.headers.get('content-type'), 'image/png');

    assert.deepEqual((await request(`${server.url}/queue`)).json.queue_running, []);
    await waitUntil(async () => (await request(`${server.url}/queue`)).json.workers.length === 2, 'the killed worker to drop out of the list');
  });
});
