import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { linkKey, nodeInputs, nodeMap, toWorkflow, workflowDoc } from '../editor/src/workflow-doc.ts';
import { startServer, type RunningServer } from '../server/serve.ts';
import { quietLogger, tempDir } from './helpers.ts';
import { waitUntil } from './server-fixtures/harness.ts';

/**
 * The collaboration endpoint without a browser: y-websocket clients in Node against the real
 * server — seeding from templates, persistence, the workflow file following the document, and
 * `PUT /api/workflows` replacing an open document.
 */
describe('server: collaborative documents (/collab)', () => {
  let server: RunningServer;
  const dataDir = tempDir('sanagraph-collab-');
  const open: WebsocketProvider[] = [];

  const start = async () => {
    server = await startServer({ port: 0, dataDir, logger: quietLogger, engine: { outputDir: path.join(dataDir, 'out'), tempDir: path.join(dataDir, 'tmp'), inputDir: path.join(dataDir, 'in') } });
  };

  /** A client document on `/collab/<name>`, synced. */
  async function join(name: string) {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/collab`, encodeURIComponent(name), doc, {
      disableBc: true, WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    open.push(provider);
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()));
    return workflowDoc(doc);
  }


  before(start);
  after(async () => {
    for (const p of open) { p.destroy(); p.doc.destroy(); }
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts a document from the shipped template of that name; an unknown name starts empty', async () => {
    const demo = await join('demo');
    const template = JSON.parse(readFileSync('workflows/demo.json', 'utf8'));
    assert.deepEqual(toWorkflow(demo).nodes, template.nodes);
    assert.deepEqual(toWorkflow(demo).ui!.nodes, template.ui.nodes);
    const fresh = await join('brand new');
    assert.equal(fresh.nodes.size, 0);
  });

  it('merges two clients\' edits, saves the workflow file, and keeps the document across a restart', async () => {
    const a = await join('shared');
    const b = await join('shared');
    a.doc.transact(() => a.nodes.set('n1', nodeMap('PrimitiveInt', { value: 1 })));
    b.doc.transact(() => b.nodes.set('n2', nodeMap('PrimitiveInt', { value: 2 })));
    await waitUntil(() => a.nodes.size === 2 && b.nodes.size === 2, 'both nodes on both sides');
    b.doc.transact(() => b.links.set(linkKey('n2', 'value'), { from: 'n1', output: 0, to: 'n2', input: 'value' }));
    await waitUntil(() => a.links.size === 1, 'the link in A');

    const file = path.join(dataDir, 'workflows', 'shared.json');
    await waitUntil(() => existsSync(file) && Object.keys(JSON.parse(readFileSync(file, 'utf8')).nodes).length === 2, 'the workflow file');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).nodes.n2.inputs, { value: ['n1', 0] });

    for (const p of open.splice(0)) { p.destroy(); p.doc.destroy(); }
    await server.close();
    await start();
    const c = await join('shared');
    assert.deepEqual(toWorkflow(c).nodes, toWorkflow(a).nodes, 'the same document after a restart');
  });

  it('PUT /api/workflows replaces an open document for everyone; refuses what is not a workflow', async () => {
    const live = await join('replace me');
    live.doc.transact(() => live.nodes.set('old', nodeMap('PrimitiveInt', { value: 7 })));
    await waitUntil(() => existsSync(path.join(dataDir, 'workflows', 'replace me.json')), 'the first save');
    const hello = JSON.parse(readFileSync('workflows/hello.json', 'utf8'));
    const put = await fetch(`${server.url}/api/workflows/replace%20me`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hello) });
    assert.equal(put.status, 200);
    await waitUntil(() => !live.nodes.has('old'), 'the replacement in the open document');
    assert.deepEqual(toWorkflow(live).nodes, hello.nodes);
    assert.equal(nodeInputs(live.nodes.get('1')!).get('value'), hello.nodes['1'].inputs.value);

    const bad = await fetch(`${server.url}/api/workflows/replace%20me`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nodes: 'no' }) });
    assert.equal(bad.status, 400);
    assert.deepEqual(toWorkflow(live).nodes, hello.nodes, 'a refused PUT changes nothing');
  });
});
