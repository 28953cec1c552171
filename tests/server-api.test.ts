import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { encode } from 'fast-png';
import {
  cheapPrompt, request, slowPrompt, startTestServer, waitForIdle, waitUntil, type TestServer,
} from './server-fixtures/harness.ts';

let server: TestServer;
before(async () => { server = await startTestServer(); });
after(async () => { await server.close(); });

/** Queues a prompt and returns its id (asserting it was accepted). */
async function queue(prompt: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await server.post('/prompt', { prompt, ...extra });
  assert.equal(res.status, 200, res.text);
  return res.json.prompt_id;
}

/** A prompt that runs until interrupted, so the queue behind it stays put while a test looks. */
async function blockQueue(): Promise<string> {
  const id = await queue(slowPrompt(-1, 600_000, 1000));
  await waitUntil(async () => (await server.get('/queue')).json.queue_running[0]?.[1] === id, 'the blocker to run');
  return id;
}

function png(width = 2, height = 2, seed = 0): Uint8Array {
  const data = new Uint8Array(width * height * 3).map((_, i) => (i * 37 + seed) % 256);
  return encode({ width, height, data, channels: 3, depth: 8 });
}

function upload(bytes: Uint8Array, name: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append('image', new Blob([bytes]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return request(`${server.url}/upload/image`, { method: 'POST', body: form });
}

describe('server: prompts, queue and history (ComfyUI API)', () => {
  afterEach(async () => {
    // A failed test must not leave a blocker running for the next one.
    await server.post('/queue', { clear: true });
    await server.post('/interrupt');
    await waitForIdle(server.url);
  });

  it('GET /prompt answers exec_info.queue_remaining, also under /api', async () => {
    for (const route of ['/prompt', '/api/prompt']) {
      const res = await server.get(route);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { exec_info: { queue_remaining: 0 } });
    }
  });

  it('POST /prompt runs a ComfyUI API prompt; the history has its outputs, status messages, meta and queue tuple', async () => {
    const prompt = slowPrompt(7);
    const res = await server.post('/prompt', { prompt, client_id: 'client-a', extra_data: { extra_pnginfo: { x: 1 } } });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json).sort(), ['node_errors', 'number', 'prompt_id']);
    assert.deepEqual(res.json.node_errors, {});
    assert.equal(typeof res.json.number, 'number');
    const id = res.json.prompt_id;
    await waitForIdle(server.url);
    const history = (await server.get(`/history/${id}`)).json;
    assert.deepEqual(Object.keys(history), [id]);
    const entry = history[id];
    assert.deepEqual(entry.prompt, [res.json.number, id, prompt, { extra_pnginfo: { x: 1 }, client_id: 'client-a' }, ['2']]);
    assert.deepEqual(entry.outputs, { 2: { text: ['value 7'] } });
    assert.equal(entry.status.status_str, 'success');
    assert.equal(entry.status.completed, true);
    assert.deepEqual(entry.status.messages.map((m: [string]) => m[0]), ['execution_start', 'execution_cached', 'execution_success']);
    assert.equal(entry.status.messages[0][1].prompt_id, id);
    assert.deepEqual(entry.meta, { 2: { node_id: '2', display_node: '2', parent_node: null, real_node_id: '2' } });
  });

  it('POST /prompt takes the native format too, and echoes it in the history as sent', async () => {
    const id = await queue(cheapPrompt(41));
    await waitForIdle(server.url);
    const entry = (await server.get(`/api/history/${id}`)).json[id];
    assert.equal(entry.prompt[2].format, 'sanagraph/workflow@1');
    assert.deepEqual(entry.outputs, { 3: { text: ['n=41'] } });
  });

  it('accepts a client prompt_id, and refuses it again while it is queued', async () => {
    const blocker = await blockQueue();
    const first = await server.post('/prompt', { prompt: cheapPrompt(1), prompt_id: 'my-own-id' });
    assert.equal(first.status, 200);
    assert.equal(first.json.prompt_id, 'my-own-id');
    const again = await server.post('/prompt', { prompt: cheapPrompt(2), prompt_id: 'my-own-id' });
    assert.equal(again.status, 400);
    assert.equal(again.json.error.type, 'duplicate_prompt_id');
    await server.post('/interrupt', { prompt_id: blocker });
    await waitForIdle(server.url);
    assert.deepEqual((await server.get('/history/my-own-id')).json['my-own-id'].outputs, { 3: { text: ['n=1'] } });
  });

  it('orders the queue FIFO, `front` first and `number` as given; GET /queue shows ComfyUI tuples', async () => {
    const blocker = await blockQueue();
    const a = await queue(cheapPrompt(101));
    const b = await queue(cheapPrompt(102));
    const front = await server.post('/prompt', { prompt: cheapPrompt(103), front: true });
    const numbered = await server.post('/prompt', { prompt: cheapPrompt(104), number: -1e9 });
    assert.equal(numbered.json.number, -1e9);
    assert.ok(front.json.number <= 0, 'a front prompt gets a negative number');
    const q = (await server.get('/queue')).json;
    assert.deepEqual(q.queue_running.map((t: unknown[]) => t[1]), [blocker]);
    assert.deepEqual(q.queue_pending.map((t: unknown[]) => t[1]), [numbered.json.prompt_id, front.json.prompt_id, a, b]);
    const tuple = q.queue_pending[1];
    assert.deepEqual(tuple, [front.json.number, front.json.prompt_id, cheapPrompt(103), {}, ['3']]);
    assert.equal((await server.get('/prompt')).json.exec_info.queue_remaining, 5);

    await server.post('/interrupt');
    await waitForIdle(server.url);
    const ids = Object.keys((await server.get('/history')).json);
    assert.deepEqual(ids.slice(-5), [blocker, numbered.json.prompt_id, front.json.prompt_id, a, b]);
  });

  it('POST /queue deletes pending prompts and clears the queue; they never run', async () => {
    const blocker = await blockQueue();
    const [x, y, z] = [await queue(cheapPrompt(201)), await queue(cheapPrompt(202)), await queue(cheapPrompt(203))];
    const del = await server.post('/queue', { delete: [y, 'not-queued'] });
    assert.equal(del.status, 200);
    assert.deepEqual((await server.get('/queue')).json.queue_pending.map((t: unknown[]) => t[1]), [x, z]);
    assert.equal((await server.post('/api/queue', { clear: true })).status, 200);
    const q = (await server.get('/queue')).json;
    assert.deepEqual(q.queue_pending, []);
    assert.deepEqual(q.queue_running.map((t: unknown[]) => t[1]), [blocker], 'clearing leaves the running prompt');
    await server.post('/interrupt');
    await waitForIdle(server.url);
    const history = (await server.get('/history')).json;
    for (const id of [x, y, z]) assert.ok(!(id in history), `${id} never ran`);
    assert.equal(history[blocker].status.status_str, 'error');
  });

  it('GET /history pages with max_items/offset; POST /history deletes and clears', async () => {
    await server.post('/history', { clear: true });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await queue(cheapPrompt(300 + i)));
    await waitForIdle(server.url);
    assert.deepEqual(Object.keys((await server.get('/history')).json), ids);
    assert.deepEqual(Object.keys((await server.get('/history?max_items=2')).json), ids.slice(2), 'max_items alone: the newest');
    assert.deepEqual(Object.keys((await server.get('/history?max_items=2&offset=1')).json), ids.slice(1, 3));
    assert.deepEqual((await server.get('/history/no-such-prompt')).json, {});
    assert.equal((await server.post('/history', { delete: [ids[0]] })).status, 200);
    assert.deepEqual(Object.keys((await server.get('/history')).json), ids.slice(1));
    assert.equal((await server.post('/history', { clear: true })).status, 200);
    assert.deepEqual((await server.get('/history')).json, {});
    assert.equal((await server.get('/history?max_items=two')).status, 400);
  });

  it('POST /interrupt with another prompt_id leaves the running prompt alone', async () => {
    const blocker = await blockQueue();
    await server.post('/interrupt', { prompt_id: 'someone-else' });
    const after = await queue(cheapPrompt(401));
    assert.deepEqual((await server.get('/queue')).json.queue_running.map((t: unknown[]) => t[1]), [blocker]);
    await server.post('/interrupt', { prompt_id: blocker });
    await waitForIdle(server.url);
    const history = (await server.get('/history')).json;
    assert.deepEqual(history[blocker].status.messages.at(-1)[0], 'execution_interrupted');
    assert.equal(history[after].status.status_str, 'success');
  });
});

describe('server: validation errors in ComfyUI\'s shape', () => {
  /** POSTs a prompt that must be refused; returns the 400 body. */
  async function refused(prompt: unknown): Promise<any> {
    const res = await server.post('/prompt', { prompt });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['error', 'node_errors']);
    assert.deepEqual(Object.keys(res.json.error).sort(), ['details', 'extra_info', 'message', 'type']);
    return res.json;
  }

  it('reports each bad input with ComfyUI\'s error type, input name, dependent outputs and class type', async () => {
    const body = await refused({
      1: { class_type: 'MathInt', inputs: { a: 'six', b: 7, op: 'pow' } },
      2: { class_type: 'SlowText', inputs: { value: 1, ms: -5, steps: 5000 } },
      3: { class_type: 'FormatText', inputs: { template: '{}' } },
      4: { class_type: 'ShowText', inputs: { text: ['1', 0] } },
      5: { class_type: 'ShowText', inputs: { text: ['3', 0] } },
      6: { class_type: 'ShowText', inputs: { text: ['2', 3] } },
      7: { class_type: 'ShowText', inputs: { text: ['99', 0] } },
    });
    assert.equal(body.error.type, 'prompt_outputs_failed_validation');
    assert.equal(body.error.message, 'Prompt outputs failed validation');
    assert.match(body.error.details, /Value not in list: op: 'pow' not in \['add', 'subtract'/);
    const types = (id: string) => body.node_errors[id].errors.map((e: { type: string }) => e.type);
    assert.deepEqual(types('1'), ['invalid_input_type', 'value_not_in_list']);
    assert.deepEqual(types('2'), ['value_smaller_than_min', 'value_bigger_than_max']);
    assert.deepEqual(types('3'), ['required_input_missing']);
    assert.deepEqual(types('4'), ['return_type_mismatch']);
    assert.deepEqual(types('6'), ['bad_linked_input']);
    assert.deepEqual(types('7'), ['bad_linked_input']);
    assert.equal(body.node_errors['1'].class_type, 'MathInt');
    assert.deepEqual(body.node_errors['1'].dependent_outputs, ['4']);
    assert.deepEqual(body.node_errors['3'].dependent_outputs, ['5']);
    assert.deepEqual(body.node_errors['2'].dependent_outputs, ['6'], 'node 6 links to it (with a bad index)');
    const [small, big] = body.node_errors['2'].errors;
    assert.deepEqual(small, {
      type: 'value_smaller_than_min', message: 'Value -5 smaller than min of 0', details: 'ms',
      extra_info: { input_name: 'ms', input_config: ['INT', { step: 1, default: 0, min: 0, max: 600_000 }], received_value: -5,
        problem: { code: 'invalid_value', message: 'ms must be an integer between 0 and 600000, got -5' } },
    });
    assert.equal(big.message, 'Value 5000 bigger than max of 1000');
    const missing = body.node_errors['3'].errors[0];
    assert.deepEqual([missing.message, missing.details, missing.extra_info.input_name], ['Required input is missing', 'value', 'value']);
    const mismatch = body.node_errors['4'].errors[0];
    assert.equal(mismatch.details, 'text, received_type(INT) mismatch input_type(STRING)');
    assert.deepEqual([mismatch.extra_info.received_type, mismatch.extra_info.linked_node], ['INT', ['1', 0]]);
    assert.equal(body.node_errors['1'].errors[0].extra_info.received_value, 'six');
  });

  it('runs the valid outputs of a partly broken prompt and reports the broken ones (200 with node_errors)', async () => {
    const res = await server.post('/prompt', { prompt: {
      1: { class_type: 'SlowText', inputs: { value: 77 } },
      2: { class_type: 'ShowText', inputs: { text: ['1', 0] } },
      3: { class_type: 'MathInt', inputs: { a: 1, b: 2, op: 'pow' } },
      4: { class_type: 'FormatText', inputs: { template: '{}', value: ['3', 0] } },
      5: { class_type: 'ShowText', inputs: { text: ['4', 0] } },
    } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json.node_errors), ['3']);
    assert.deepEqual(res.json.node_errors['3'].dependent_outputs, ['5']);
    const id = res.json.prompt_id;
    await waitForIdle(server.url);
    const entry = (await server.get(`/history/${id}`)).json[id];
    assert.deepEqual(entry.prompt[4], ['2']);
    assert.deepEqual(entry.outputs, { 2: { text: ['value 77'] } });
  });

  it('an unknown node type, no output node, a cycle and unknown targets', async () => {
    const unknown = await refused({ 1: { class_type: 'NoSuchNode', inputs: {} }, 2: { class_type: 'ShowText', inputs: { text: 'x' } } });
    assert.deepEqual(unknown.error, {
      type: 'invalid_prompt', message: 'Cannot execute because node NoSuchNode does not exist.', details: "Node ID '#1'",
      extra_info: { problem: { code: 'unknown_node_type', message: 'unknown node type "NoSuchNode"' } },
    });
    assert.deepEqual(unknown.node_errors, {});
    const none = await refused({ 1: { class_type: 'PrimitiveInt', inputs: { value: 1 } } });
    assert.deepEqual(none.error, { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} });
    const cycle = await refused({
      1: { class_type: 'FormatText', inputs: { template: '{}', value: ['2', 0] } },
      2: { class_type: 'FormatText', inputs: { template: '{}', value: ['1', 0] } },
      3: { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    });
    const cycleErrors = Object.values(cycle.node_errors).flatMap((n: any) => n.errors.map((e: { type: string }) => e.type));
    assert.deepEqual(cycleErrors, ['dependency_cycle']);
    const target = await server.post('/prompt', { prompt: slowPrompt(1), partial_execution_targets: ['9'] });
    assert.equal(target.status, 400);
    assert.equal(target.json.error.type, 'invalid_prompt');
  });

  it('partial_execution_targets runs only the outputs asked for', async () => {
    const prompt = { ...slowPrompt(501), 3: { class_type: 'SlowText', inputs: { value: 502 } }, 4: { class_type: 'ShowText', inputs: { text: ['3', 0] } } };
    const id = (await server.post('/prompt', { prompt, partial_execution_targets: ['4'] })).json.prompt_id;
    await waitForIdle(server.url);
    const entry = (await server.get(`/history/${id}`)).json[id];
    assert.deepEqual(entry.prompt[4], ['4']);
    assert.deepEqual(entry.outputs, { 4: { text: ['value 502'] } });
  });
});

describe('server: catalog, system and misc routes', () => {
  it('GET /object_info lists every node in ComfyUI\'s shape; /object_info/{type} one, {} when unknown', async () => {
    const all = (await server.get('/object_info')).json;
    for (const type of ['MathInt', 'ShowText', 'SaveImage', 'Sampler', 'LoadPipeline', 'SlowText']) assert.ok(type in all, type);
    const one = (await server.get('/object_info/MathInt')).json;
    assert.deepEqual(Object.keys(one), ['MathInt']);
    const info = one.MathInt;
    assert.deepEqual(info.input.required.op, [['add', 'subtract', 'multiply', 'divide', 'modulo', 'min', 'max'], { default: 'add' }]);
    assert.deepEqual(info.input.required.a, ['INT', { step: 1, default: 0 }]);
    assert.deepEqual(info.input.optional, {});
    assert.deepEqual(info.output, ['INT']);
    assert.deepEqual(info.output_name, ['INT']);
    assert.equal(info.output_node, false);
    assert.equal(info.category, 'utils/math');
    assert.match(info.description, /Integer arithmetic/);
    assert.equal(all.ShowText.output_node, true);
    assert.deepEqual(all.ShowText.input.required.text, ['STRING', {}]);
    assert.deepEqual((await server.get('/object_info/NoSuchNode')).json, {});
  });

  it('GET /system_stats: system, one device per execution provider (cpu first), the runtime', async () => {
    const stats = (await server.get('/system_stats')).json;
    assert.equal(stats.system.os, process.platform);
    assert.ok(stats.system.ram_total > 0);
    assert.equal(stats.system.node_version, process.version);
    assert.match(stats.system.onnxruntime_version, /^\d+\.\d+/);
    assert.equal(stats.devices[0].type, 'cpu');
    assert.equal(stats.devices[0].available, true);
    for (const key of ['name', 'type', 'index', 'vram_total', 'vram_free', 'torch_vram_total', 'torch_vram_free']) assert.ok(key in stats.devices[0], key);
    assert.deepEqual(stats.runtime.loaded_models, []);
  });

  it('GET /embeddings, /extensions, /features', async () => {
    assert.deepEqual((await server.get('/embeddings')).json, []);
    assert.deepEqual((await server.get('/extensions')).json, []);
    assert.deepEqual((await server.get('/features')).json, { supports_preview_metadata: false, max_upload_size: 32 * 2 ** 20 });
  });

  it('POST /free unloads the models (200, empty body); free_memory also drops cached results', async () => {
    const cachedNodes = async () => {
      const queued = await server.post('/prompt', { prompt: cheapPrompt(424242) });
      await waitForIdle(server.url);
      const entry = (await server.get(`/history/${queued.json.prompt_id}`)).json[queued.json.prompt_id];
      return entry.status.messages.find(([name]: [string]) => name === 'execution_cached')[1].nodes as string[];
    };
    await cachedNodes();
    assert.deepEqual(await cachedNodes(), ['1', '2', '3'], 'the second run is all cached');
    const res = await server.post('/free', { unload_models: true });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.deepEqual(await server.context.engine.command('models'), []);
    assert.deepEqual(await cachedNodes(), ['1', '2', '3'], 'unload_models keeps cached results');
    await server.post('/free', { free_memory: true });
    assert.deepEqual(await cachedNodes(), [], 'free_memory dropped them');
  });

  it('POST /free during a prompt frees once that prompt has finished (its own results are dropped too)', async () => {
    const prompt = slowPrompt(515151, 600);
    const first = await server.post('/prompt', { prompt });
    await waitUntil(async () => (await server.get('/queue')).json.queue_running.length === 1, 'the prompt to run');
    const res = await server.post('/free', { free_memory: true });
    assert.equal(res.status, 200, 'answers at once');
    await waitForIdle(server.url);
    assert.equal((await server.get(`/history/${first.json.prompt_id}`)).json[first.json.prompt_id].status.status_str, 'success');
    const again = await server.post('/prompt', { prompt });
    await waitForIdle(server.url);
    const entry = (await server.get(`/history/${again.json.prompt_id}`)).json[again.json.prompt_id];
    const cached = entry.status.messages.find(([name]: [string]) => name === 'execution_cached')[1].nodes;
    assert.deepEqual(cached, [], 'freed after the first run stored its results, so nothing is reused');
  });

  it('GET /api/nodes lists nodes with their inputs in our terms; GET /api/health', async () => {
    const nodes = (await server.get('/api/nodes')).json;
    const slow = nodes.find((n: { type: string }) => n.type === 'SlowText');
    assert.match(slow.source, /server-fixtures\/custom-nodes\/test-nodes\.ts$/);
    assert.deepEqual(slow.inputs.map((i: { name: string }) => i.name), ['value', 'ms', 'steps']);
    assert.deepEqual(slow.inputs[1], { name: 'ms', kind: 'widget', optional: false, type: 'INT', link_type: 'INT', expected: 'an integer between 0 and 600000', options: { step: 1, default: 0, min: 0, max: 600_000 }, default: 0 });
    assert.deepEqual(slow.outputs, [{ name: 'text', type: 'STRING' }]);
    const health = (await server.get('/api/health')).json;
    assert.equal(health.status, 'ok');
    assert.equal(health.queue_remaining, 0);
    assert.equal(health.running, null);
  });

  it('serves the editor at / (built by npm test\'s pretest) with its bundle', async () => {
    const res = await server.get('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/html/);
    assert.match(res.text, /<title>sanagraph<\/title>/);
    const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)">/.exec(res.text);
    assert.ok(script, 'the page loads its bundle');
    assert.match(res.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.match(res.headers.get('content-security-policy')!, /connect-src 'self' ws: wss:/);
    const bundle = await server.get(script[1]);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type')!, /javascript/);
    assert.equal((await server.get('/assets/nope.js')).status, 404);
  });

  it('answers unknown routes with a JSON 404, and a plain GET /ws with 426', async () => {
    for (const route of ['/nope', '/api/nope', '/api/api/prompt', '/workflows', '/prompt/extra']) {
      const res = await server.get(route);
      assert.equal(res.status, 404, route);
      assert.equal(res.json.error.type, 'not_found');
    }
    assert.equal((await server.post('/object_info', {})).status, 404);
    assert.equal((await server.get('/ws')).status, 426);
  });

  it('serves every ComfyUI route under /api as well', async () => {
    for (const route of ['/prompt', '/queue', '/history', '/object_info/MathInt', '/system_stats', '/embeddings', '/extensions', '/features']) {
      const [plain, api] = [await server.get(route), await server.get(`/api${route}`)];
      assert.equal(plain.status, 200, route);
      assert.equal(api.status, 200, `/api${route}`);
      if (route !== '/system_stats') assert.deepEqual(api.json, plain.json, route);
    }
  });
});

describe('server: files', () => {
  it('POST /upload/image stores a PNG in input; same bytes reuse the name, other bytes get "name (1)", overwrite replaces', async () => {
    const first = png(2, 2, 0);
    const res = await upload(first, 'pic.png');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { name: 'pic.png', subfolder: '', type: 'input' });
    assert.deepEqual(new Uint8Array(readFileSync(path.join(server.context.dirs.input, 'pic.png'))), first);
    assert.equal((await upload(first, 'pic.png')).json.name, 'pic.png');
    const other = png(2, 2, 1);
    assert.equal((await upload(other, 'pic.png')).json.name, 'pic (1).png');
    assert.equal((await upload(other, 'pic.png', { overwrite: 'true' })).json.name, 'pic.png');
    assert.deepEqual(new Uint8Array(readFileSync(path.join(server.context.dirs.input, 'pic.png'))), other);
  });

  it('uploads into a subfolder and into temp; GET /view serves them back byte for byte', async () => {
    const bytes = png(3, 1, 5);
    const res = await upload(bytes, 'sub.png', { subfolder: 'a/b', type: 'temp' });
    assert.deepEqual(res.json, { name: 'sub.png', subfolder: 'a/b', type: 'temp' });
    const view = await fetch(`${server.url}/view?filename=sub.png&subfolder=a/b&type=temp`);
    assert.equal(view.status, 200);
    assert.equal(view.headers.get('content-type'), 'image/png');
    assert.deepEqual(new Uint8Array(await view.arrayBuffer()), bytes);
    const annotated = await fetch(`${server.url}/api/view?filename=${encodeURIComponent('sub.png [temp]')}&subfolder=a/b`);
    assert.equal(annotated.status, 200);
  });

  it('accepts JPEG and WebP by their bytes; refuses other content (415) and a name that lies about the type (400)', async () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0]);
    assert.equal((await upload(jpeg, 'photo.jpg')).status, 200);
    const webp = new Uint8Array([0x52, 0x49, 0x46, 0x46, 4, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38]);
    assert.equal((await upload(webp, 'anim.webp')).status, 200);
    const html = new TextEncoder().encode('<html><script>alert(1)</script></html>');
    const refused = await upload(html, 'page.png');
    assert.equal(refused.status, 415);
    assert.equal(refused.json.error.type, 'unsupported_media_type');
    const lying = await upload(png(), 'page.html');
    assert.equal(lying.status, 400);
    assert.match(lying.json.error.message, /PNG image but is named "page.html"/);
    const none = await request(`${server.url}/upload/image`, { method: 'POST', body: new FormData() });
    assert.equal(none.status, 400);
  });

  it('GET /view serves outputs with their content type, 404 for a missing file', async () => {
    const id = await queue({ 1: { class_type: 'PrimitiveString', inputs: { value: 'saved' } }, 2: { class_type: 'SaveText', inputs: { text: ['1', 0], filename_prefix: 'notes/n' } } });
    await waitForIdle(server.url);
    const file = (await server.get(`/history/${id}`)).json[id].outputs['2'].files[0];
    assert.deepEqual(file, { filename: 'n_00001.txt', subfolder: 'notes', type: 'output' });
    const view = await server.get(`/view?filename=${file.filename}&subfolder=${file.subfolder}&type=output`);
    assert.equal(view.status, 200);
    assert.equal(view.text, 'saved');
    assert.equal(view.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(view.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await server.get('/view?filename=missing.png')).status, 404);
    assert.equal((await server.get('/view?filename=n_00001.txt&subfolder=notes&type=elsewhere')).status, 400);
    assert.equal((await server.get('/view')).status, 400);
  });
});

describe('server: saved workflows (/api/workflows)', () => {
  it('puts, lists, gets, replaces and deletes workflows by name', async () => {
    const wf = cheapPrompt(1);
    const created = await request(`${server.url}/api/workflows/My%20flow`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wf) });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json, { name: 'My flow' });
    const list = (await server.get('/api/workflows')).json;
    assert.deepEqual(list.map((w: { name: string }) => w.name), ['My flow']);
    assert.ok(list[0].size > 0);
    assert.deepEqual((await server.get('/api/workflows/My%20flow')).json, wf);
    assert.deepEqual((await server.get('/api/workflows/My%20flow.json')).json, wf, 'the .json suffix is optional');
    const replaced = await request(`${server.url}/api/workflows/My%20flow`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(cheapPrompt(2)) });
    assert.equal(replaced.status, 200);
    assert.deepEqual((await server.get('/api/workflows/My%20flow')).json, cheapPrompt(2));
    assert.equal((await request(`${server.url}/api/workflows/My%20flow`, { method: 'DELETE' })).status, 204);
    assert.equal((await server.get('/api/workflows/My%20flow')).status, 404);
    assert.equal((await request(`${server.url}/api/workflows/My%20flow`, { method: 'DELETE' })).status, 404);
    assert.deepEqual((await server.get('/api/workflows')).json, []);
  });

  it('refuses a body that is no workflow', async () => {
    const res = await request(`${server.url}/api/workflows/bad`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hello: 'world' }) });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.type, 'invalid_workflow');
  });
});

describe('server: history size', () => {
  it('keeps the last N entries (--history-size)', async () => {
    const small = await startTestServer({ historySize: 3 });
    try {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await small.post('/prompt', { prompt: cheapPrompt(900 + i) })).json.prompt_id);
      await waitForIdle(small.url);
      assert.deepEqual(Object.keys((await small.get('/history')).json), ids.slice(2));
      assert.deepEqual(Object.keys((await small.get('/history?max_items=2')).json), ids.slice(3));
    } finally {
      await small.close();
    }
  });
});

describe('server: a full queue', () => {
  it('answers 429 with a clear message when the pending queue is full', async () => {
    const small = await startTestServer({ maxQueue: 2 });
    try {
      const queued = await small.post('/prompt', { prompt: slowPrompt(0, 600_000, 1000) });
      assert.equal(queued.status, 200, queued.text);
      const blocker = queued.json.prompt_id;
      await waitUntil(async () => (await small.get('/queue')).json.queue_running.length === 1, 'the blocker to run');
      assert.equal((await small.post('/prompt', { prompt: cheapPrompt(1) })).status, 200);
      assert.equal((await small.post('/prompt', { prompt: cheapPrompt(2) })).status, 200);
      const full = await small.post('/prompt', { prompt: cheapPrompt(3) });
      assert.equal(full.status, 429);
      assert.equal(full.json.error.type, 'queue_full');
      assert.match(full.json.error.message, /the queue is full \(2 pending prompts\)/);
      await small.post('/interrupt', { prompt_id: blocker });
      await waitForIdle(small.url);
      assert.equal((await small.post('/prompt', { prompt: cheapPrompt(3) })).status, 200, 'room again once it drained');
    } finally {
      await small.close();
    }
  });
});
