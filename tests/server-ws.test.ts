import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from 'fast-png';
import { slowPrompt, startTestServer, waitForIdle, WsClient, type Message, type TestServer } from './server-fixtures/harness.ts';
import { tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

let server: TestServer;
const clients: WsClient[] = [];
before(async () => { server = await startTestServer(); });
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});

async function connect(opts: { clientId?: string; path?: string } = {}): Promise<WsClient> {
  const client = await WsClient.connect(server.url, opts);
  clients.push(client);
  await client.next((m) => m.type === 'status');
  return client;
}

const isEnd = (id: string) => (m: Message) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id;

describe('server: WebSocket', () => {
  it('says status (queue_remaining, sid) on connect; a client without an id gets a random one', async () => {
    const named = await connect({ clientId: 'named-client' });
    assert.deepEqual(named.messages[0], { type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'named-client' } });
    const anonymous = await connect();
    assert.match(anonymous.messages[0].data.sid, /^[0-9a-f]{32}$/);
  });

  it('follows a full model run in order: start, cached, executing, progress, executed, success, status, executing null', async () => {
    const viewer = await connect({ clientId: 'viewer' });
    const other = await connect({ clientId: 'other' });
    const wf = await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }), { 5: { steps: 3 } });
    const res = await server.post('/prompt', { prompt: wf, client_id: 'viewer' });
    assert.equal(res.status, 200, res.text);
    const id = res.json.prompt_id;
    await viewer.next(isEnd(id));

    const mine = viewer.about(id);
    const types = mine.map((m) => m.type);
    assert.deepEqual(types.slice(0, 2), ['execution_start', 'execution_cached']);
    assert.deepEqual(types.slice(-2), ['execution_success', 'executing']);
    assert.deepEqual(mine.at(-1)!.data, { node: null, prompt_id: id });
    const executing = mine.filter((m) => m.type === 'executing' && m.data.node !== null);
    assert.deepEqual([...new Set(executing.map((m) => m.data.display_node))].sort(), ['1', '2', '3', '4', '5', '6', '7', '8']);
    const progress = mine.filter((m) => m.type === 'progress' && m.data.max === 3);
    assert.deepEqual(progress.map((m) => m.data.value), [1, 2, 3]);
    for (const p of progress) assert.deepEqual([p.data.node, p.data.prompt_id], ['5', id]);
    const saved = mine.find((m) => m.type === 'executed' && m.data.node === '7')!;
    assert.ok(types.indexOf('executed') > types.indexOf('executing'));
    assert.ok(types.indexOf('execution_success') > mine.indexOf(saved));
    const image = saved.data.output.images[0];
    assert.deepEqual(Object.keys(image).sort(), ['filename', 'subfolder', 'type']);
    assert.equal(image.type, 'output');

    // ComfyUI's order at the end: the queue status (now empty) comes before `executing: null`.
    const all = viewer.messages;
    const end = all.findIndex(isEnd(id));
    const lastStatus = all.slice(0, end).findLast((m) => m.type === 'status')!;
    assert.equal(lastStatus.data.status.exec_info.queue_remaining, 0);
    assert.ok(all.some((m) => m.type === 'status' && m.data.status.exec_info.queue_remaining === 1), 'a status when it was queued');

    assert.deepEqual(other.about(id), [], 'another client hears nothing about this prompt');
    assert.ok(other.messages.some((m) => m.type === 'status' && m.data.status.exec_info.queue_remaining === 1), 'but it sees the queue change');

    const history = (await server.get(`/history/${id}`)).json[id];
    assert.deepEqual(history.outputs['7'].images, [image]);
    const view = await fetch(`${server.url}/view?filename=${image.filename}&subfolder=${image.subfolder}&type=${image.type}`);
    assert.equal(view.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await view.arrayBuffer()).slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  it('sends a prompt without a client_id to every client', async () => {
    const [a, b] = [await connect({ clientId: 'everyone-a' }), await connect({ clientId: 'everyone-b' })];
    const id = (await server.post('/prompt', { prompt: slowPrompt(11) })).json.prompt_id;
    for (const c of [a, b]) {
      await c.next(isEnd(id));
      const executed = c.about(id).find((m) => m.type === 'executed')!;
      assert.deepEqual(executed.data.output, { text: ['value 11'] });
    }
  });

  it('interrupts the running prompt: execution_interrupted, then executing null; the queue goes on', async () => {
    const c = await connect({ clientId: 'interrupter' });
    const id = (await server.post('/prompt', { prompt: slowPrompt(12, 600_000, 1000), client_id: 'interrupter' })).json.prompt_id;
    const next = (await server.post('/prompt', { prompt: slowPrompt(13), client_id: 'interrupter' })).json.prompt_id;
    await c.next((m) => m.type === 'progress' && m.data.prompt_id === id);
    assert.equal((await server.post('/interrupt')).status, 200);
    await c.next(isEnd(id));
    const types = c.about(id).map((m) => m.type);
    assert.equal(types.at(-2), 'execution_interrupted');
    assert.ok(!types.includes('execution_success'));
    const interrupted = c.about(id).at(-2)!.data;
    assert.equal(interrupted.node_id, '1');
    assert.equal(interrupted.node_type, 'SlowText');
    await c.next(isEnd(next));
    const history = (await server.get('/history')).json;
    assert.deepEqual([history[id].status.status_str, history[id].status.completed], ['error', false]);
    assert.equal(history[id].status.messages.at(-1)[0], 'execution_interrupted');
    assert.equal(history[next].status.status_str, 'success');
  });

  it('reports a failing node with execution_error; the history keeps it', async () => {
    const c = await connect({ clientId: 'failing' });
    const prompt = {
      1: { class_type: 'MathInt', inputs: { a: 1, b: 0, op: 'divide' } },
      2: { class_type: 'FormatText', inputs: { template: '{}', value: ['1', 0] } },
      3: { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    };
    const id = (await server.post('/prompt', { prompt, client_id: 'failing' })).json.prompt_id;
    await c.next(isEnd(id));
    const error = c.about(id).find((m) => m.type === 'execution_error')!.data;
    assert.equal(error.node_id, '1');
    assert.equal(error.node_type, 'MathInt');
    assert.match(error.exception_message, /cannot divide by zero/);
    const entry = (await server.get(`/history/${id}`)).json[id];
    assert.equal(entry.status.status_str, 'error');
    assert.equal(entry.status.messages.at(-1)[0], 'execution_error');
  });

  it('tells a client that reconnects with its id which node is running', async () => {
    const first = await connect({ clientId: 'comes-back' });
    const id = (await server.post('/prompt', { prompt: slowPrompt(14, 600_000, 1000), client_id: 'comes-back' })).json.prompt_id;
    await first.next((m) => m.type === 'progress' && m.data.prompt_id === id);
    first.close();
    const again = await connect({ clientId: 'comes-back' });
    const executing = await again.next((m) => m.type === 'executing');
    assert.deepEqual([executing.data.node, executing.data.prompt_id], ['1', id]);
    assert.equal(again.messages.indexOf(executing), 1, 'right after the status');
    await server.post('/interrupt', { prompt_id: id });
    await again.next(isEnd(id));
  });

  it('sends preview images as ComfyUI binary frames (type 1, then 1=JPEG/2=PNG, then the image) to the prompt\'s client', async () => {
    const c = await connect({ clientId: 'previews' });
    const bystander = await connect({ clientId: 'bystander' });
    const png = encode({ width: 1, height: 1, data: new Uint8Array([255, 0, 0]), channels: 3, depth: 8 });
    server.context.hub.sendPreview('png', png, 'previews');
    server.context.hub.sendPreview('jpeg', new Uint8Array([0xff, 0xd8, 0xff]), 'previews');
    await c.next(() => c.frames.length === 2);
    const [a, b] = c.frames;
    assert.deepEqual([a.readUInt32BE(0), a.readUInt32BE(4)], [1, 2]);
    assert.deepEqual(new Uint8Array(a.subarray(8)), png);
    assert.deepEqual([b.readUInt32BE(0), b.readUInt32BE(4), ...b.subarray(8)], [1, 1, 0xff, 0xd8, 0xff]);
    assert.equal(bystander.frames.length, 0);
  });

  it('answers a feature_flags first message, and serves /api/ws too', async () => {
    const c = await connect({ clientId: 'flags' });
    c.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    const flags = await c.next((m) => m.type === 'feature_flags');
    assert.deepEqual(flags.data, { supports_preview_metadata: false, max_upload_size: 32 * 2 ** 20 });
    const api = await WsClient.connect(`${server.url}/api`, { clientId: 'via-api' });
    clients.push(api);
    assert.equal((await api.next((m) => m.type === 'status')).data.sid, 'via-api');
    await waitForIdle(server.url);
  });
});
