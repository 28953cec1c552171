import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encode } from 'fast-png';
import WebSocket from 'ws';
import { startServer, ServerConfigError } from '../server/serve.ts';
import { DataDirInUseError } from '../server/sqlite-queue.ts';
import { quietLogger, tempDir } from './helpers.ts';
import { cheapPrompt, postJson, request, startTestServer, waitForIdle, WsClient, type TestServer } from './server-fixtures/harness.ts';

const SECRET = 'top secret: must never be served';

/** Opens a WebSocket and says how the handshake ended: 'open' or the HTTP status. */
function wsHandshake(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => { ws.close(); resolve('open'); });
    ws.once('unexpected-response', (_req, res) => { resolve(String(res.statusCode)); ws.terminate(); });
    ws.once('error', (e) => resolve(`error: ${e.message}`));
  });
}

function png(): Uint8Array {
  return encode({ width: 1, height: 1, data: new Uint8Array([1, 2, 3]), channels: 3, depth: 8 });
}

describe('server: paths cannot escape their folders', () => {
  let server: TestServer;
  let outside: string;
  before(async () => {
    server = await startTestServer();
    // A secret next to the served folders, and symlinks inside the output folder that lead to it.
    outside = tempDir('sanagraph-outside-');
    writeFileSync(path.join(outside, 'secret.txt'), SECRET);
    writeFileSync(path.join(server.dataDir, 'secret.txt'), SECRET);
    const out = server.context.dirs.output;
    writeFileSync(path.join(out, 'fine.txt'), 'fine');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(out, 'link.txt'));
    symlinkSync(outside, path.join(out, 'linkdir'));
  });
  after(async () => { await server.close(); });

  it('GET /view refuses 16 traversal variants, and never returns the secret', async () => {
    const variants = [
      'filename=../secret.txt',
      'filename=..%2Fsecret.txt',
      'filename=%2e%2e%2fsecret.txt',
      'filename=%252e%252e%252fsecret.txt',
      'filename=..%5Csecret.txt',
      'filename=secret.txt&subfolder=..',
      'filename=secret.txt&subfolder=../..',
      'filename=secret.txt&subfolder=a/../..',
      `filename=secret.txt&subfolder=${encodeURIComponent(outside)}`,
      `filename=${encodeURIComponent(path.join(outside, 'secret.txt'))}`,
      'filename=secret.txt%00.png',
      'filename=link.txt',
      'filename=secret.txt&subfolder=linkdir',
      'filename=C:%5Csecret.txt',
      `filename=${encodeURIComponent('../secret.txt [output]')}`,
      'filename=secret.txt&type=..',
    ];
    for (const query of variants) {
      const res = await server.get(`/view?${query}`);
      assert.ok([400, 403, 404].includes(res.status), `${query} → ${res.status}`);
      assert.ok(!res.text.includes(SECRET), query);
      assert.equal(typeof res.json.error.type, 'string', query);
    }
    assert.equal((await server.get('/view?filename=fine.txt')).text, 'fine', 'a plain file is served');
  });

  it('POST /upload/image refuses names and subfolders that leave the folder, and writes nothing outside', async () => {
    const attempts: [string, Record<string, string>][] = [
      ['../evil.png', {}],
      ['..%2Fevil.png', { subfolder: '..' }],
      ['evil.png', { subfolder: '../..' }],
      ['evil.png', { subfolder: outside }],
      ['evil.png', { subfolder: '..\\..' }],
      ['..', {}],
      ['evil.png', { subfolder: 'linkdir', type: 'output' }],
      ['evil\u0000.png', {}],
    ];
    for (const [name, fields] of attempts) {
      const form = new FormData();
      form.append('image', new Blob([png()]), name);
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      const res = await request(`${server.url}/upload/image`, { method: 'POST', body: form });
      assert.ok([400, 403].includes(res.status), `${name} ${JSON.stringify(fields)} → ${res.status} ${res.text}`);
    }
    assert.deepEqual(readdirSync(outside).sort(), ['secret.txt']);
    assert.ok(!existsSync(path.join(server.dataDir, 'evil.png')));
  });

  it('workflow names cannot name another folder', async () => {
    const body = JSON.stringify(cheapPrompt(1));
    for (const name of ['..', '.hidden', '..%2Fescape', '%2e%2e%2fescape', 'a%2Fb', 'a%5Cb', 'x%00y', `${'n'.repeat(101)}`, '%20lead']) {
      const res = await request(`${server.url}/api/workflows/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      assert.ok([400, 403, 404].includes(res.status), `${name} → ${res.status}`);
      const get = await server.get(`/api/workflows/${name}`);
      assert.ok([400, 403, 404].includes(get.status), `GET ${name} → ${get.status}`);
    }
    assert.deepEqual((await server.get('/api/workflows')).json, []);
    assert.deepEqual(readdirSync(server.dataDir).filter((f) => f.endsWith('.json')), []);
  });
});

describe('server: workflows cannot read files outside its folders', () => {
  it('confines LoadPipeline, LoadLatent and LoadConditioning paths by default', async () => {
    const server = await startTestServer({ engine: { confinePaths: true } });
    try {
      const outside = tempDir('sanagraph-outside-');
      const run = async (nodes: Record<string, unknown>) => {
        const queued = await server.post('/prompt', { prompt: { format: 'sanagraph/workflow@1', nodes } });
        assert.equal(queued.status, 200, queued.text);
        await waitForIdle(server.url);
        return (await server.get(`/history/${queued.json.prompt_id}`)).json[queued.json.prompt_id];
      };
      for (const [type, inputs] of [
        ['LoadPipeline', { path: outside }],
        ['LoadPipeline', { path: '../../etc' }],
        ['LoadLatent', { path: path.join(outside, 'x.safetensors') }],
        ['LoadConditioning', { path: '../secret.safetensors' }],
      ] as const) {
        const entry = await run({
          1: { type, inputs },
          2: { type: 'FormatText', inputs: { template: '{}', value: ['1', 0] } },
          3: { type: 'ShowText', inputs: { text: ['2', 0] } },
        });
        const error = entry.status.messages.find(([name]: [string]) => name === 'execution_error')?.[1];
        assert.equal(entry.status.status_str, 'error', JSON.stringify(entry.status));
        assert.equal(error.node_type, type);
        assert.match(error.exception_message, /^input "path": .* is outside .*: this server only reads files under it/);
      }
    } finally {
      await server.close();
    }
  });
});

describe('server: a token guards every route and the WebSocket', () => {
  const token = 'correct-horse-battery-staple';
  let server: TestServer;
  before(async () => { server = await startTestServer({ token }); });
  after(async () => { await server.close(); });
  const routes = ['/prompt', '/queue', '/history', '/object_info', '/system_stats', '/view?filename=x.png', '/api/workflows', '/api/nodes', '/api/health', '/features', '/api/prompt', '/nope'];

  it('answers 401 without the token, or with a wrong one, on every route', async () => {
    for (const route of routes) {
      for (const headers of [undefined, { authorization: 'Bearer wrong' }, { authorization: `Basic ${token}` }]) {
        const res = await server.get(route, headers);
        assert.equal(res.status, 401, `${route} ${JSON.stringify(headers)}`);
        assert.equal(res.json.error.type, 'unauthorized');
      }
    }
    assert.equal((await server.post('/prompt', { prompt: cheapPrompt(1) })).status, 401);
    assert.equal((await server.post('/interrupt')).status, 401);
    const page = await server.get('/');
    assert.equal(page.status, 401);
    assert.match(page.text, /requires a token/);
  });

  it('lets the bearer token through', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const route of routes.slice(0, 5)) assert.equal((await server.get(route, auth)).status, 200, route);
    const queued = await server.post('/prompt', { prompt: cheapPrompt(5) }, auth);
    assert.equal(queued.status, 200);
    await waitForIdle(server.url, auth);
    assert.equal((await server.get('/', auth)).status, 200);
  });

  it('POST /api/login sets a session cookie for a right token only; logout clears it', async () => {
    const wrong = await server.post('/api/login', { token: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    const login = await server.post('/api/login', { token });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /^sanagraph_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\//);
    assert.ok(!cookie.includes(token), 'the cookie is not the token itself');
    const session = { cookie: cookie.split(';')[0] };
    assert.equal((await server.get('/queue', session)).status, 200);
    assert.equal((await server.get('/queue', { cookie: 'sanagraph_session=forged' })).status, 401);
    const logout = await server.post('/api/logout');
    assert.match(logout.headers.get('set-cookie')!, /Max-Age=0/);
  });

  it('refuses WebSocket connections without the token; accepts ?token=, the header and the cookie', async () => {
    const ws = server.url.replace('http', 'ws');
    assert.equal(await wsHandshake(`${ws}/ws`), '401');
    assert.equal(await wsHandshake(`${ws}/ws?token=wrong`), '401');
    assert.equal(await wsHandshake(`${ws}/ws?clientId=x&token=${token}`), 'open');
    assert.equal(await wsHandshake(`${ws}/ws`, { authorization: `Bearer ${token}` }), 'open');
    const cookie = (await server.post('/api/login', { token })).headers.get('set-cookie')!.split(';')[0];
    assert.equal(await wsHandshake(`${ws}/ws`, { cookie }), 'open');
    assert.equal(await wsHandshake(`${ws}/elsewhere?token=${token}`), '404');
    assert.equal((await server.get(`/queue?token=${token}`)).status, 401, '?token= is for WebSockets only');
  });

  it('guards the collaboration endpoint the same way, and refuses unsafe workflow names', async () => {
    const ws = server.url.replace('http', 'ws');
    assert.equal(await wsHandshake(`${ws}/collab/demo`), '401');
    assert.equal(await wsHandshake(`${ws}/collab/demo`, { cookie: 'sanagraph_session=nope' }), '401');
    assert.equal(await wsHandshake(`${ws}/collab/demo?token=${token}`), 'open');
    assert.equal(await wsHandshake(`${ws}/collab/demo`, { authorization: `Bearer ${token}` }), 'open');
    assert.equal(await wsHandshake(`${ws}/collab/..%2Fetc?token=${token}`), '404');
    assert.equal(await wsHandshake(`${ws}/collab/a/b?token=${token}`), '404');
  });
});

describe('server: binding', () => {
  it('refuses to listen beyond loopback without a token, and says why', async () => {
    await assert.rejects(startServer({ host: '0.0.0.0', port: 0, dataDir: tempDir(), logger: quietLogger }),
      (e: unknown) => e instanceof ServerConfigError && /without a token/.test(e.message) && /--token/.test(e.message) && /SANAGRAPH_TOKEN/.test(e.message));
  });

  it('the CLI exits 1 with the reason; with SANAGRAPH_TOKEN set it starts', async () => {
    const run = (env: Record<string, string>) => new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['bin/sanagraph.js', 'serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', tempDir(), '--custom-nodes', tempDir()],
        { env: { ...process.env, ...env } }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }));
      child.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening on')) child.kill('SIGTERM'); });
    });
    const refused = await run({ SANAGRAPH_TOKEN: '' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
    const started = await run({ SANAGRAPH_TOKEN: 'a-token-from-the-environment' });
    assert.match(started.stdout, /sanagraph server listening on http:\/\/0\.0\.0\.0:\d+/);
    assert.equal(started.code, 0, started.stderr);
  });

  it('a second server on the same data directory refuses to start, and leaves the first one\'s files alone', async () => {
    const dataDir = tempDir();
    const engine = { outputDir: path.join(dataDir, 'o'), inputDir: path.join(dataDir, 'i'), customNodes: [] };
    const first = await startServer({ port: 0, dataDir, logger: quietLogger, engine });
    try {
      writeFileSync(path.join(dataDir, 'temp', 'in-use.png'), 'a preview of the first server');
      await assert.rejects(startServer({ port: 0, dataDir, logger: quietLogger, engine }), DataDirInUseError);
      assert.ok(existsSync(path.join(dataDir, 'temp', 'in-use.png')), 'the temp folder was not cleared');
    } finally {
      await first.close();
    }
  });
});

describe('server: malformed and oversized requests', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ maxJsonBytes: 64 * 1024, maxUploadBytes: 32 * 1024 }); });
  after(async () => { await server.close(); });

  it('answers a 4xx JSON error for every malformed body, without a stack trace, and keeps serving', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['/prompt', 'not json', '{"prompt": ', 400, 'invalid_json'],
      ['/prompt', 'a JSON string', '"text"', 400, 'invalid_json'],
      ['/prompt', 'null', 'null', 400, 'invalid_json'],
      ['/prompt', 'an array', '[1, 2]', 400, 'invalid_request'],
      ['/prompt', 'no prompt', {}, 400, 'no_prompt'],
      ['/prompt', 'prompt of the wrong type', { prompt: 'text' }, 400, 'invalid_request'],
      ['/prompt', 'front not a boolean', { prompt: cheapPrompt(1), front: 'yes' }, 400, 'invalid_request'],
      ['/prompt', 'client_id not a string', { prompt: cheapPrompt(1), client_id: 5 }, 400, 'invalid_request'],
      ['/prompt', 'number not a number', { prompt: cheapPrompt(1), number: 'soon' }, 400, 'invalid_request'],
      ['/prompt', 'not a workflow', { prompt: { a: 1 } }, 400, 'invalid_prompt'],
      ['/prompt', 'a ComfyUI editor file', { prompt: { nodes: [], links: [] } }, 400, 'invalid_prompt'],
      ['/prompt', 'a node without class_type', { prompt: { 1: { inputs: {} } } }, 400, 'invalid_prompt'],
      ['/queue', 'delete not a list', { delete: 'abc' }, 400, 'invalid_request'],
      ['/history', 'clear not a boolean', { clear: 'yes' }, 400, 'invalid_request'],
      ['/interrupt', 'prompt_id not a string', { prompt_id: 7 }, 400, 'invalid_request'],
      ['/free', 'unload_models not a boolean', { unload_models: 'all' }, 400, 'invalid_request'],
      ['/api/login', 'no token', {}, 400, 'invalid_request'],
    ];
    for (const [route, what, body, status, type] of cases) {
      const res = await server.post(route, body);
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(res.json?.error?.type, type, what);
      assert.ok(!('traceback' in res.json.error.extra_info) && !/\n\s+at /.test(res.text), `${what}: no stack`);
    }
    const form = await request(`${server.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: JSON.stringify({ prompt: cheapPrompt(7) }) });
    assert.equal(form.status, 200, 'a JSON body is read whatever its Content-Type, as ComfyUI (Python urllib sends form-encoded)');
    assert.equal((await server.get('/history/%E0%A4%A')).status, 400);
    assert.equal((await server.get('/view?filename=a.png&filename=b.png')).status, 400);
    assert.equal((await server.get('/history?max_items=1e99')).status, 400);
    assert.equal((await server.get('/prompt')).status, 200, 'still serving');
    await waitForIdle(server.url);
  });

  it('answers 413 for a JSON body or an upload over the limit', async () => {
    const big = await server.post('/prompt', { prompt: cheapPrompt(1), extra_data: { padding: 'x'.repeat(100 * 1024) } });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.type, 'payload_too_large');
    const form = new FormData();
    form.append('image', new Blob([png(), new Uint8Array(64 * 1024)]), 'big.png');
    const upload = await request(`${server.url}/upload/image`, { method: 'POST', body: form });
    assert.equal(upload.status, 413);
    assert.equal(upload.json.error.type, 'payload_too_large');
    assert.equal((await server.get('/prompt')).status, 200);
  });

  it('shows a stack trace only with --debug', async () => {
    const debug = await startTestServer({ debug: true });
    try {
      const res = await debug.post('/prompt', { prompt: 'text' });
      assert.equal(res.status, 400);
      assert.ok(Array.isArray(res.json.error.extra_info.traceback));
    } finally {
      await debug.close();
    }
  });
});

/** A GET with a Host header of our choosing (fetch will not send one). */
function getWithHost(url: string, route: string, host: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    http.get({ hostname, port, path: route, headers: { host } }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject);
  });
}

describe('server: DNS rebinding', () => {
  it('without a token, answers only requests addressed to a loopback name', async () => {
    const plain = await startTestServer();
    const guarded = await startTestServer({ token: 'a-long-enough-token-for-tests' });
    try {
      const port = new URL(plain.url).port;
      assert.equal(await getWithHost(plain.url, '/prompt', `evil.example:${port}`), 403);
      assert.equal(await getWithHost(plain.url, '/prompt', `localhost:${port}`), 200);
      assert.equal(await getWithHost(plain.url, '/prompt', `[::1]:${port}`), 200);
      assert.equal(await getWithHost(plain.url, '/prompt', `127.0.0.1:${port}`), 200);
      assert.equal(await wsHandshake(`${plain.url.replace('http', 'ws')}/ws`, { host: `evil.example:${port}` }), '403');
      // With a token any Host is fine: the token is what a rebinding page cannot have.
      assert.equal(await getWithHost(guarded.url, '/prompt', 'sanagraph.example.org'), 401);
    } finally {
      await plain.close();
      await guarded.close();
    }
  });
});

describe('server: cross-origin requests', () => {
  it('refuses requests and WebSockets from another origin; CORS only for the configured one', async () => {
    const plain = await startTestServer();
    const withCors = await startTestServer({ corsOrigin: 'http://editor.example:5173' });
    try {
      const host = new URL(plain.url).host;
      const evil = await postJson(`${plain.url}/prompt`, { prompt: cheapPrompt(1) }, { origin: 'http://evil.example' });
      assert.equal(evil.status, 403);
      assert.equal(evil.json.error.type, 'forbidden_origin');
      const same = await postJson(`${plain.url}/prompt`, { prompt: cheapPrompt(2) }, { origin: `http://${host}` });
      assert.equal(same.status, 200);
      assert.equal(same.headers.get('access-control-allow-origin'), null, 'no CORS unless configured');
      assert.equal(await wsHandshake(`${plain.url.replace('http', 'ws')}/ws`, { origin: 'http://evil.example' }), '403');

      const preflight = await request(`${withCors.url}/prompt`, { method: 'OPTIONS', headers: { origin: 'http://editor.example:5173', 'access-control-request-method': 'POST' } });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://editor.example:5173');
      const allowed = await postJson(`${withCors.url}/prompt`, { prompt: cheapPrompt(3) }, { origin: 'http://editor.example:5173' });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://editor.example:5173');
      assert.equal((await postJson(`${withCors.url}/prompt`, { prompt: cheapPrompt(4) }, { origin: 'http://evil.example' })).status, 403);
      const client = await WsClient.connect(withCors.url, { headers: { origin: 'http://editor.example:5173' } });
      client.close();
      await assert.rejects(startServer({ port: 0, dataDir: tempDir(), corsOrigin: 'http://x.example/path', logger: quietLogger }), ServerConfigError);
    } finally {
      await plain.close();
      await withCors.close();
    }
  });
});

// The data dir and temp folders are created on demand; make sure a fresh nested one works too.
describe('server: folders', () => {
  it('creates its data, output, input and temp folders', async () => {
    const root = tempDir();
    const nested = path.join(root, 'a', 'b');
    mkdirSync(root, { recursive: true });
    const server = await startServer({ port: 0, dataDir: nested, logger: quietLogger, engine: { outputDir: path.join(root, 'o'), inputDir: path.join(root, 'i'), customNodes: [] } });
    try {
      for (const dir of [nested, path.join(root, 'o'), path.join(root, 'i'), path.join(nested, 'temp')]) assert.ok(existsSync(dir), dir);
      assert.ok(existsSync(path.join(nested, 'sanagraph.db')));
    } finally {
      await server.close();
    }
  });
});
