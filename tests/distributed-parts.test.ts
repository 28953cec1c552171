import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { parseWorkflow } from '../engine/workflow.ts';
import { betterWorker, loadedPipelines, pipelinesOf } from '../server/distributed/affinity.ts';
import { checkQueueUrl, QueueConnectionError } from '../server/distributed/connection.ts';
import { FileReceiver, FileSender } from '../server/distributed/file-transfer.ts';
import { Worker } from 'bullmq';
import { Cluster } from '../server/distributed/cluster.ts';
import { bullConnection } from '../server/distributed/connection.ts';
import { RedisQueue } from '../server/distributed/redis-queue.ts';
import type { HistoryEntry } from '../server/history.ts';
import { ClientHub } from '../server/ws.ts';
import { listWorkers, publishWorker, removeWorker } from '../server/distributed/worker-registry.ts';
import { DuplicatePromptError, QueueFullError } from '../server/queue.ts';
import { jobIdOf, keys, PREFIX, QUEUE_NAME, type JobResult, type WorkerInfo } from '../server/distributed/protocol.ts';
import { quietLogger, tempDir } from './helpers.ts';
import { freePort, RedisProcess } from './server-fixtures/cluster.ts';
import { cheapPrompt, startTestServer, waitUntil, WsClient } from './server-fixtures/harness.ts';

/** The distributed queue's parts on their own: file transfer through a real Redis, affinity, ids, URLs. */
describe('output files through Redis', () => {
  let redis: RedisProcess;
  let client: Redis;
  let dir: string;
  const roots = (side: string) => ({ output: path.join(dir, side, 'output'), temp: path.join(dir, side, 'temp') });

  before(async () => {
    redis = await RedisProcess.start();
    client = redis.client();
    dir = tempDir('sanagraph-files-');
  });
  after(async () => {
    client?.disconnect();
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function workerFile(name: string, bytes: string): void {
    mkdirSync(path.join(dir, 'worker', 'output', 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'worker', 'output', 'sub', name), bytes);
  }

  it('stores a file once under a fresh name (never overwriting), and a retried attempt\'s file in the same place', async () => {
    const server = roots('server');
    mkdirSync(path.join(server.output, 'sub'), { recursive: true });
    writeFileSync(path.join(server.output, 'sub', 'img_00001.png'), 'someone else\'s');
    workerFile('img_00001.png', 'first attempt');
    const output = { images: [{ filename: 'img_00001.png', subfolder: 'sub', type: 'output' }], text: ['kept as is'] };

    const first = new FileSender(client, 'p:1', 'a1', roots('worker'));
    const sent = await first.attach(output, '7');
    assert.deepEqual(sent.text, ['kept as is']);
    const receiver = new FileReceiver(client, server);
    const stored = await receiver.resolve('p:1', sent, '7');
    assert.deepEqual(stored, { images: [{ filename: 'img_00002.png', subfolder: 'sub', type: 'output' }], text: ['kept as is'] });
    assert.deepEqual(await receiver.resolve('p:1', sent, '7'), stored, 'the same file again: the same stored file');
    assert.equal(readFileSync(path.join(server.output, 'sub', 'img_00001.png'), 'utf8'), 'someone else\'s');

    workerFile('img_00001.png', 'second attempt');
    const retry = await new FileSender(client, 'p:1', 'a2', roots('worker')).attach(output, '7');
    assert.deepEqual(await receiver.resolve('p:1', retry, '7'), stored, 'a retried attempt replaces its slot');
    assert.equal(readFileSync(path.join(server.output, 'sub', 'img_00002.png'), 'utf8'), 'second attempt');
    assert.deepEqual(readdirSync(path.join(server.output, 'sub')).sort(), ['img_00001.png', 'img_00002.png']);

    await receiver.forget('p:1', [...first.keys]);
    assert.equal(await client.exists(first.keys[0], keys.stored('p:1')), 0, 'bytes and slot map deleted');
  });

  it('says which file is gone when its bytes expired', async () => {
    const sent = { images: [{ filename: 'x_00001.png', subfolder: '', type: 'output', ref: { key: keys.file('p2', 'a', '1.images.0'), slot: '1.images.0' } }] };
    await assert.rejects(new FileReceiver(client, roots('server')).resolve('p2', sent, '1'), /output file x_00001.png of prompt p2 is no longer in Redis/);
  });
});

describe('the prompt queue on BullMQ, and the worker registry', () => {
  let redis: RedisProcess;
  let client: Redis;
  let queue: RedisQueue;
  const history = { finish: async () => {} };
  const prompt = (promptId: string, front = false) => ({ promptId, prompt: { format: 'sanagraph/workflow@1', nodes: {} }, extraData: { client_id: 'c' }, outputsToExecute: [], front });

  before(async () => {
    redis = await RedisProcess.start();
    client = redis.client();
    queue = new RedisQueue(redis.url, client, history, { maxPending: 3 });
  });
  after(async () => {
    await queue?.close();
    client?.disconnect();
    await redis?.close();
  });

  it('queues in order (front first), refuses duplicates and a full queue, removes and clears pending prompts', async () => {
    await queue.enqueue(prompt('a'));
    await queue.enqueue(prompt('b'));
    await assert.rejects(queue.enqueue(prompt('a')), DuplicatePromptError);
    await queue.enqueue(prompt('first', true));
    await assert.rejects(queue.enqueue(prompt('d')), QueueFullError);
    const listed = await queue.list();
    assert.deepEqual(listed.pending.map((p) => p.promptId), ['first', 'a', 'b']);
    assert.deepEqual(listed.pending[1], { number: 0, promptId: 'a', prompt: prompt('a').prompt, extraData: { client_id: 'c' }, outputsToExecute: [] });
    assert.equal(await queue.remove(['a', 'nope']), 1);
    assert.equal(await queue.remaining(), 2);
    assert.equal(await queue.clear(), 2);
    assert.equal(await queue.remaining(), 0);
    assert.deepEqual((await queue.list()).pending, []);
  });

  it('lists live workers without scanning Redis, and forgets those whose heartbeat expired', async () => {
    const info = (id: string): WorkerInfo => ({ id, host: 'h', pid: 1, device: 'cpu', current_prompt: null, loaded_models: [], pipelines: [], jobs_done: 0, started_at: 0, seen_at: 0 });
    await publishWorker(client, info('w2'));
    await publishWorker(client, info('w1'));
    assert.deepEqual((await listWorkers(client)).map((w) => w.id), ['w1', 'w2']);
    await client.del(keys.worker('w2')); // as if its key had expired
    assert.deepEqual((await listWorkers(client)).map((w) => w.id), ['w1']);
    await removeWorker(client, 'w1');
    assert.deepEqual(await listWorkers(client), []);
    assert.equal(await client.scard(keys.workerIds), 0, 'the id set is cleaned up too');
  });
});

describe('collecting finished prompts', () => {
  it('records a prompt whose files expired as an error, and goes on collecting the ones behind it', async () => {
    // Both jobs finish while no server is there; the server starting afterwards sweeps them up.
    const redis = await RedisProcess.start();
    const client = redis.client();
    const entries = new Map<string, HistoryEntry>();
    const history = { finish: async (id: string, entry: HistoryEntry) => { entries.set(id, entry); } };
    const queue = new RedisQueue(redis.url, client, history, { maxPending: 10 });
    const dir = tempDir('sanagraph-collect-');
    const lostFile = { images: [{ filename: 'x_00001.png', subfolder: '', type: 'output', ref: { key: keys.file('lost', 'a', '9.images.0'), slot: '9.images.0' } }] };
    const results: Record<string, JobResult> = {
      lost: { status: 'success', outputs: { 9: lostFile }, messages: [], meta: {}, fileKeys: [] },
      fine: { status: 'success', outputs: {}, messages: [], meta: {}, fileKeys: [] },
    };
    let cluster: Cluster | undefined;
    const hub = new ClientHub({ queueRemaining: async () => 0, features: {} });
    try {
      for (const id of ['lost', 'fine']) await queue.enqueue({ promptId: id, prompt: { format: 'sanagraph/workflow@1', nodes: {} }, extraData: {}, outputsToExecute: [] });
      let done = 0;
      const worker = new Worker(QUEUE_NAME, async (job) => results[job.data.promptId], { connection: bullConnection(redis.url), prefix: PREFIX });
      worker.on('completed', () => { done++; });
      await waitUntil(() => done === 2, 'both jobs to complete');
      await worker.close();
      cluster = new Cluster({ url: redis.url, history, hub, dirs: { output: path.join(dir, 'output'), temp: path.join(dir, 'temp') }, maxPending: 10, logger: quietLogger });
      await waitUntil(() => entries.size === 2, 'both prompts recorded');
      assert.equal(entries.get('fine')!.status.status_str, 'success');
      const lost = entries.get('lost')!;
      assert.equal(lost.status.status_str, 'error');
      assert.match(JSON.stringify(lost.status.messages), /its output files could not be stored: output file x_00001.png of prompt lost is no longer in Redis/);
      assert.equal(await queue.remaining(), 0);
      assert.equal((await queue.bull.getJobs(['completed', 'failed'])).length, 0, 'both jobs removed');
    } finally {
      await cluster?.close();
      await hub.close();
      await queue.close();
      client.disconnect();
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('model affinity', () => {
  const worker = (id: string, pipelines: string[], current: string | null = null): WorkerInfo => ({
    id, host: 'h', pid: 1, device: 'cpu', current_prompt: current, loaded_models: [], pipelines, jobs_done: 0, started_at: 0, seen_at: 0,
  });
  const wf = parseWorkflow({
    format: 'sanagraph/workflow@1',
    nodes: { 1: { type: 'LoadPipeline', inputs: { path: 'sana-600m', device: 'auto' } }, 2: { type: 'LoadPipeline', inputs: { path: 'tiny', device: 'cuda' } } },
  });

  it('finds the pipelines a workflow loads', () => {
    assert.deepEqual(pipelinesOf(wf), ['sana-600m', 'tiny']);
  });

  it('passes a prompt on only to an idle worker that holds every pipeline it needs', () => {
    const needed = ['sana-600m', 'tiny'];
    const me = worker('a', []);
    assert.equal(betterWorker(me, [me, worker('b', needed)], needed)?.id, 'b');
    assert.equal(betterWorker(me, [me, worker('b', needed, 'busy')], needed), undefined, 'the holder is busy');
    assert.equal(betterWorker(me, [me, worker('b', ['tiny'])], needed), undefined, 'the other holds only part');
    assert.equal(betterWorker(worker('a', needed), [worker('b', needed)], needed), undefined, 'I hold them myself');
    assert.equal(betterWorker(me, [worker('b', [])], []), undefined, 'no models needed');
  });

  it('counts a pipeline as held while a model under its folder is loaded', () => {
    const known = new Map([['tiny', '/models/tiny'], ['big', '/models/big']]);
    assert.deepEqual(loadedPipelines(known, ['/models/tiny/transformer.onnx']), ['tiny']);
    assert.deepEqual(loadedPipelines(known, ['/models/tiny-2/vae.onnx']), []);
  });
});

describe('queue ids and URLs', () => {
  it('encodes prompt ids BullMQ would refuse as job ids, and only those', () => {
    assert.equal(jobIdOf('5b89-abc'), '5b89-abc');
    assert.equal(jobIdOf('42'), 'enc.42');
    assert.equal(jobIdOf('a:b'), 'enc.a%3Ab');
    assert.notEqual(jobIdOf('enc.42'), jobIdOf('42'));
  });

  it('accepts Redis URLs and explains a bad one', () => {
    assert.equal(checkQueueUrl('redis://10.0.0.5:6379/2'), 'redis://10.0.0.5:6379/2');
    assert.throws(() => checkQueueUrl('10.0.0.5:6379'), (e: Error) => e instanceof QueueConnectionError && /must be a Redis URL such as redis:\/\/127.0.0.1:6379/.test(e.message));
    assert.throws(() => checkQueueUrl('redis://host:6379/zero'), /database number/);
  });
});

describe('serve --queue --local-worker', () => {
  it('runs prompts on the worker inside the server process, and stops cleanly', async () => {
    const redis = await RedisProcess.start();
    const server = await startTestServer({ queue: redis.url, localWorker: true, engine: { device: 'cpu' } });
    try {
      const ws = await WsClient.connect(server.url, { clientId: 'me' });
      const res = await server.post('/prompt', { prompt: cheapPrompt(5), client_id: 'me' });
      assert.equal(res.status, 200, res.text);
      const id = res.json.prompt_id;
      await ws.next((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id);
      assert.deepEqual(ws.about(id).map((m) => m.type), ['execution_start', 'execution_cached', 'executing', 'executing', 'executing', 'executed', 'execution_success', 'executing']);
      assert.deepEqual((await server.get(`/history/${id}`)).json[id].outputs, { 3: { text: ['n=5'] } });
      const { workers } = (await server.get('/queue')).json;
      assert.equal(workers.length, 1);
      assert.equal(workers[0].jobs_done, 1);
      assert.equal(workers[0].device, 'cpu', 'the server\'s engine settings, --device included, reach the local worker');
      ws.close();
    } finally {
      await server.close();
      await redis.close();
    }
  });

  it('refuses to start when Redis cannot be reached, saying where it looked', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(startTestServer({ queue: url }), (e: Error) => e.name === 'ServerConfigError' && e.message.includes(`cannot reach Redis at ${url}`));
  });
});
