import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../server/serve.ts';
import {
  addNodeBySearch, bigWorkflow, dragLink, launchBrowser, openEditor, startEditorServer, workflowOf,
} from './editor-fixtures.ts';
import { waitUntil } from './server-fixtures/harness.ts';
import { tempDir } from './helpers.ts';

/** The editor in a real Chromium against a real server: building, running, collaborating. */
describe('editor (Chromium)', { timeout: 180_000 }, () => {
  let browser: Browser;
  let server: RunningServer;
  const dataDir = tempDir('sanagraph-editor-');

  before(async () => {
    browser = await launchBrowser();
    server = await startEditorServer(dataDir);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('builds the demo workflow from an empty canvas with the mouse, queues it and shows the image in the node', async () => {
    const { page, errors } = await openEditor(browser, server.url, 'built-by-hand');
    assert.deepEqual((await workflowOf(page)).nodes, {}, 'a new workflow starts empty');
    // Zoom out with the wheel so the whole graph fits, as a user would.
    await page.mouse.move(700, 400);
    for (let i = 0; i < 12 && (await page.evaluate('app.view.area.area.transform.k') as number) > 0.55; i++) {
      await page.mouse.wheel(0, 120);
      await page.waitForTimeout(30);
    }

    const load = await addNodeBySearch(page, 'load sana', { x: 240, y: 80 });
    const positive = await addNodeBySearch(page, 'text enc', { x: 450, y: 70 });
    const negative = await addNodeBySearch(page, 'textencode', { x: 450, y: 300 });
    const noise = await addNodeBySearch(page, 'latent noise', { x: 450, y: 480 });
    const sampler = await addNodeBySearch(page, 'sampler', { x: 680, y: 70 });
    const decode = await addNodeBySearch(page, 'dcae', { x: 900, y: 70 });
    const save = await addNodeBySearch(page, 'save image', { x: 1090, y: 220 });

    await dragLink(page, load, 1, positive, 'text_encoder');
    await dragLink(page, load, 1, negative, 'text_encoder');
    await dragLink(page, load, 0, sampler, 'model');
    await dragLink(page, positive, 0, sampler, 'positive');
    await dragLink(page, negative, 0, sampler, 'negative');
    await dragLink(page, noise, 0, sampler, 'latent');
    await dragLink(page, sampler, 0, decode, 'latent');
    await dragLink(page, load, 2, decode, 'vae');
    await dragLink(page, decode, 0, save, 'images');

    const widget = (node: string, name: string) => page.locator(`sg-node[data-node-id="${node}"] [name="${name}"]`);
    await widget(load, 'path').fill('demo');
    await widget(load, 'path').blur();
    await widget(positive, 'text').fill('a large red circle in the center on a blue background');
    await widget(positive, 'text').blur();
    await widget(negative, 'complex_human_instruction').uncheck();
    for (const [name, value] of [['width', '128'], ['height', '128'], ['seed', '1']]) {
      await widget(noise, name).fill(value);
      await widget(noise, name).blur();
    }
    await widget(sampler, 'guidance_scale').fill('1.5');
    await widget(sampler, 'guidance_scale').blur();

    const wf = await workflowOf(page);
    assert.deepEqual(wf.nodes[sampler].inputs, {
      model: [load, 0], positive: [positive, 0], negative: [negative, 0], latent: [noise, 0],
      steps: 20, guidance_scale: 1.5, scheduler: 'flow_dpmpp_2m', flow_shift: 3,
    });
    assert.deepEqual(wf.nodes[decode].inputs, { vae: [load, 2], latent: [sampler, 0] });
    assert.equal(wf.nodes[positive].inputs.text, 'a large red circle in the center on a blue background');
    assert.equal(wf.nodes[negative].inputs.complex_human_instruction, false);

    await page.click('#btn-queue');
    const image = page.locator(`sg-node[data-node-id="${save}"] .images img`);
    await image.waitFor({ timeout: 60_000 });
    // `any`: an <img> element (the tests are compiled without DOM types)
    await waitUntil(() => image.evaluate((img: any) => img.complete && img.naturalWidth === 128), 'the image to load');
    assert.equal(await page.locator('#gallery img').count(), 1, 'the gallery shows it too');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('refuses a connection of incompatible types with a hint; shows the server\'s validation errors on the node and input', async () => {
    const { page } = await openEditor(browser, server.url, 'demo');
    const before = await workflowOf(page);
    // The noise's LATENT onto the sampler's CONDITIONING input "positive".
    await dragLink(page, '4', 0, '5', 'positive');
    await page.locator('#toast.show').waitFor();
    assert.match(await page.locator('#toast').textContent() ?? '', /Cannot connect: LATENT cannot connect to "positive", which takes CONDITIONING/);
    assert.deepEqual((await workflowOf(page)).nodes, before.nodes);
    const api = await page.evaluate(`(() => { try { app.graph.connect('4', 0, '5', 'positive'); return 'connected'; } catch (e) { return e.message; } })()`);
    assert.match(api as string, /LATENT cannot connect/);

    // A workflow the server refuses: the offending node is marked, with the reason, and the input.
    await page.evaluate(`app.graph.disconnect('7', 'images')`);
    await page.click('#btn-queue');
    const save = page.locator('sg-node[data-node-id="7"] .sg-node.has-error');
    await save.waitFor();
    assert.match(await save.locator('.errors').innerText(), /images/);
    assert.equal(await page.locator('sg-node[data-node-id="7"] .input.bad[data-input="images"]').count(), 1);
    assert.equal(await page.locator('.sg-node.has-error').count(), 1, 'only that node');
    await page.locator('#canvas').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+z');
    await waitUntil(async () => JSON.stringify((await workflowOf(page)).nodes) === JSON.stringify(before.nodes), 'the undo');
    await page.context().close();
  });

  it('restores a workflow from a PNG made by SaveImage, renames a node by its title, offers matching nodes for a link dropped in empty space, copies and pastes between workflows', async () => {
    // A PNG from the server: the demo workflow run through the API.
    const demo = JSON.parse(readFileSync('workflows/demo.json', 'utf8'));
    const queued = await (await fetch(`${server.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: demo }) })).json() as { prompt_id: string };
    let image: { filename: string; subfolder: string; type: string } | undefined;
    await waitUntil(async () => {
      const history = await (await fetch(`${server.url}/history/${queued.prompt_id}`)).json() as Record<string, { outputs: Record<string, { images?: typeof image[] }> }>;
      image = history[queued.prompt_id]?.outputs['7']?.images?.[0];
      return image !== undefined;
    }, 'the demo image', 60_000);
    const png = [...new Uint8Array(await (await fetch(`${server.url}/view?${new URLSearchParams(image!)}`)).arrayBuffer())];

    const { page, errors } = await openEditor(browser, server.url, 'from-png');
    await page.evaluate(`(() => {
      const file = new File([new Uint8Array(${JSON.stringify(png)})], 'demo.png', { type: 'image/png' });
      const data = new DataTransfer();
      data.items.add(file);
      document.querySelector('#canvas').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    })()`);
    await waitUntil(async () => Object.keys((await workflowOf(page)).nodes).length === 7, 'the dropped workflow');
    assert.deepEqual((await workflowOf(page)).nodes, demo.nodes);
    await page.locator('sg-node[data-node-id="5"]').waitFor();

    // Rename the sampler: double-click its title, type, Enter.
    await page.locator('sg-node[data-node-id="5"] .title').dblclick();
    await page.locator('sg-node[data-node-id="5"] .title-edit').fill('My sampler');
    await page.locator('sg-node[data-node-id="5"] .title-edit').press('Enter');
    await waitUntil(async () => (await workflowOf(page)).ui.nodes['5'].title === 'My sampler', 'the new title');
    await waitUntil(async () => (await page.locator('sg-node[data-node-id="5"] .title').first().innerText()).startsWith('My sampler'), 'the new title drawn');

    // Drop a link from the sampler's LATENT output into empty space: the search offers LATENT takers.
    const from = await page.locator('sg-node[data-node-id="5"] .output[data-output="0"] .sg-socket').boundingBox();
    await page.mouse.move(from!.x + 5, from!.y + 5);
    await page.mouse.down();
    await page.mouse.move(from!.x + 120, from!.y + 400, { steps: 6 });
    await page.mouse.up();
    await page.locator('.quick-search').waitFor();
    const offered = await page.locator('.quick-search .palette-item').evaluateAll((items: any[]) => items.map((i) => i.dataset.type));
    assert.ok(offered.includes('SaveLatent') && offered.includes('DCAEDecode'), `offered ${offered}`);
    assert.ok(!offered.includes('TextEncode'), 'only nodes with a LATENT input');
    await page.locator('.quick-search input').fill('save latent');
    await page.locator('.quick-search input').press('Enter');
    await waitUntil(async () => Object.values((await workflowOf(page)).nodes).some((n) => n.type === 'SaveLatent'), 'the new node');
    const wf = await workflowOf(page);
    const saveLatent = Object.values(wf.nodes).find((n) => n.type === 'SaveLatent')!;
    assert.deepEqual(saveLatent.inputs.latent, ['5', 0]);

    // Copy the noise and the sampler (Ctrl+click selects both), paste them into another workflow.
    await page.locator('sg-node[data-node-id="4"] .title').click();
    await page.locator('sg-node[data-node-id="5"] .title').click({ modifiers: ['Control'] });
    await page.keyboard.press('Control+c');
    const other = await page.context().newPage();
    await other.goto(`${server.url}/?workflow=pasted`);
    await other.waitForSelector('body[data-ready=true]');
    await other.mouse.move(600, 400);
    await other.keyboard.press('Control+v');
    await waitUntil(async () => Object.keys((await workflowOf(other)).nodes).length === 2, 'the pasted nodes');
    const pasted = Object.entries((await workflowOf(other)).nodes);
    const noise = pasted.find(([, n]) => n.type === 'LatentInit')!;
    const sampler = pasted.find(([, n]) => n.type === 'Sampler')!;
    assert.deepEqual(sampler[1].inputs.latent, [noise[0], 0], 'the link between them comes along');
    assert.equal(sampler[1].inputs.model, undefined, 'links to nodes left behind do not');
    assert.equal(noise[1].inputs.seed, demo.nodes['4'].inputs.seed);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('links a value into a widget: the widget shows where it comes from, and the run uses the linked value', async () => {
    const demo = JSON.parse(readFileSync('workflows/demo.json', 'utf8'));
    await fetch(`${server.url}/api/workflows/linked`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(demo) });
    const { page, errors } = await openEditor(browser, server.url, 'linked');
    // Dragging a number widget by its name: a step per 4 px, and the whole drag is one undo step.
    const name = page.locator('sg-node[data-node-id="5"] .widget[data-input="guidance_scale"] .widget-name');
    const box = (await name.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 48, box.y + box.height / 2, { steps: 12 });
    await page.mouse.up();
    assert.equal((await workflowOf(page)).nodes['5'].inputs.guidance_scale, 2.7, '12 steps of 0.1 up from 1.5');
    await page.locator('#canvas').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+z');
    await waitUntil(async () => (await workflowOf(page)).nodes['5'].inputs.guidance_scale === 1.5, 'one undo to take the whole drag back');
    const steps = await page.evaluate(`(() => { const id = app.graph.addNode('PrimitiveInt', { x: 760, y: 420 }); app.graph.setWidget(id, 'value', 3); return id; })()`) as string;
    await page.locator(`sg-node[data-node-id="${steps}"]`).waitFor();
    await dragLink(page, steps, 0, '5', 'steps');
    await waitUntil(async () => JSON.stringify((await workflowOf(page)).nodes['5'].inputs.steps) === JSON.stringify([steps, 0]), 'the link');
    const linked = page.locator('sg-node[data-node-id="5"] .widget.linked[data-input="steps"]');
    await linked.waitFor(); // drawn after the document changed
    assert.match(await linked.innerText(), /from PrimitiveInt/);
    assert.equal(await page.locator('sg-node[data-node-id="5"] [name="steps"]').count(), 0, 'no editable value while linked');
    await page.evaluate(`app.graph.setTitle('${steps}', 'Step count')`);
    await waitUntil(async () => /from Step count/.test(await linked.innerText()), 'the label to follow the rename');
    // A STRING into an INT widget is refused like any other type mismatch.
    const text = await page.evaluate(`app.graph.addNode('PrimitiveString', { x: 760, y: 560 })`) as string;
    const refused = await page.evaluate(`(() => { try { app.graph.connect('${text}', 0, '5', 'steps'); return 'connected'; } catch (e) { return e.message; } })()`);
    assert.match(refused as string, /STRING cannot connect to "steps", which takes INT/);

    const promptId = await page.evaluate('app.queue()') as string;
    await page.locator('sg-node[data-node-id="7"] .images img').waitFor({ timeout: 60_000 });
    const history = await (await fetch(`${server.url}/history/${promptId}`)).json() as Record<string, { prompt: unknown[] }>;
    const sent = history[promptId].prompt[2] as { nodes: Record<string, { inputs: Record<string, unknown> }> };
    assert.deepEqual(sent.nodes['5'].inputs.steps, [steps, 0]);
    assert.equal((history[promptId].prompt[3] as { workflow?: string }).workflow, 'linked', 'the prompt says which workflow it came from (the queue panel shows it)');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('saves a copy under a new name, and starts a workflow from a template, through the dialogs', async () => {
    const { page, errors } = await openEditor(browser, server.url, 'demo');
    const original = (await workflowOf(page)).nodes;
    await page.click('#btn-save-as');
    await page.locator('.name-dialog input').fill('../etc');
    await page.locator('.name-dialog button[type=submit]').click();
    assert.match(await page.locator('.name-dialog .hint').innerText(), /letters, digits/);
    await page.locator('.name-dialog input').fill('demo copy');
    await page.locator('.name-dialog button[type=submit]').click();
    await page.waitForURL(/workflow=demo\+copy|workflow=demo%20copy/);
    await page.waitForSelector('body[data-ready=true]');
    assert.equal(await page.locator('#workflow-name').innerText(), 'demo copy');
    assert.deepEqual((await workflowOf(page)).nodes, original);

    await page.click('#btn-open');
    await page.locator('.open-dialog').waitFor(); // shown once the lists have loaded
    assert.equal(await page.locator('.open-dialog [data-workflow="demo copy"]').count(), 1, 'the saved copy is listed');
    await page.locator('.open-dialog [data-template="hello"]').click();
    await page.locator('.name-dialog input').fill('my hello');
    await page.locator('.name-dialog button[type=submit]').click();
    await page.waitForURL(/workflow=my\+hello|workflow=my%20hello/);
    await page.waitForSelector('body[data-ready=true]');
    const hello = JSON.parse(readFileSync('workflows/hello.json', 'utf8'));
    assert.deepEqual((await workflowOf(page)).nodes, hello.nodes);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('opens a 500-node workflow framed and zoomed out, without widgets; zooming in brings them back', async () => {
    const put = await fetch(`${server.url}/api/workflows/big`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bigWorkflow()) });
    assert.equal(put.status, 201);
    const { page, errors } = await openEditor(browser, server.url, 'big');
    assert.equal(await page.locator('sg-node').count(), 500);
    assert.equal(await page.locator('[data-testid="connection"]').count(), 71 * 9, 'every link drawn');
    assert.ok((await page.evaluate('app.view.area.area.transform.k') as number) < 0.1, 'the whole graph is in view');
    assert.equal(await page.locator('sg-node .widget').count(), 0, 'no widgets at this zoom');
    await page.evaluate(`(async () => {
      const a = app.view.area;
      await a.area.zoom(0.7, 0, 0);
      const p = a.nodeViews.get('0_5').position;
      await a.area.translate(500 - p.x * 0.7, 300 - p.y * 0.7);
    })()`);
    await page.locator('sg-node[data-node-id="0_5"] [name="steps"]').waitFor();
    assert.equal(await page.locator('sg-node[data-node-id="0_5"] [name="steps"]').inputValue(), '20');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  it('two people on one workflow: edits converge, each sees the other\'s cursor, undo is per person, the server keeps it', async () => {
    const a = await openEditor(browser, server.url, 'together');
    const b = await openEditor(browser, server.url, 'together');
    const app = (page: typeof a.page, code: string) => page.evaluate(code);

    // Concurrent edits from both sides.
    const [na, nb] = await Promise.all([
      app(a.page, `app.graph.addNode('PrimitiveInt', {x: 0, y: 0})`),
      app(b.page, `app.graph.addNode('PrimitiveInt', {x: 0, y: 200})`),
    ]) as [string, string];
    await Promise.all([
      app(a.page, `app.graph.setWidget('${na}', 'value', 11)`),
      app(b.page, `app.graph.setWidget('${nb}', 'value', 22)`),
    ]);
    // Compared by content: two peers list a document's nodes in the order each first saw them
    // (nodes added at the same moment come out in different orders), so JSON text may never match.
    await waitUntil(async () => isDeepStrictEqual(await workflowOf(a.page), await workflowOf(b.page)), 'both pages to converge');
    const both = await workflowOf(a.page);
    assert.equal(both.nodes[na].inputs.value, 11);
    assert.equal(both.nodes[nb].inputs.value, 22);
    const aValueInB = b.page.locator(`sg-node[data-node-id="${na}"] [name="value"]`);
    await aValueInB.waitFor();
    await waitUntil(async () => (await aValueInB.inputValue()) === '11', 'B to draw A\'s widget value');

    // Presence: B's cursor shows in A, with B's name.
    const bName = await b.page.inputValue('#user-name');
    await b.page.mouse.move(600, 500);
    await b.page.mouse.move(650, 520, { steps: 3 });
    await a.page.locator('.remote-cursor').first().waitFor({ timeout: 5000 });
    assert.equal(await a.page.locator('.remote-cursor span').first().textContent(), bName);
    assert.equal(await a.page.locator('#peers .peer').count(), 1);
    const aName = await a.page.inputValue('#user-name');
    await a.page.mouse.move(500, 300);
    await a.page.mouse.move(520, 340, { steps: 3 });
    await b.page.locator('.remote-cursor').first().waitFor({ timeout: 5000 });
    assert.equal(await b.page.locator('.remote-cursor span').first().textContent(), aName, 'and the other way round');

    // A's undo takes back A's last edit only.
    await app(a.page, `app.graph.setWidget('${na}', 'value', 12)`);
    await app(b.page, `app.graph.setWidget('${nb}', 'value', 23)`);
    await waitUntil(async () => (await workflowOf(a.page)).nodes[nb].inputs.value === 23, 'B\'s edit in A');
    await a.page.locator('#canvas').click({ position: { x: 5, y: 5 } });
    await a.page.keyboard.press('Control+z');
    await waitUntil(async () => (await workflowOf(b.page)).nodes[na].inputs.value === 11, 'A\'s undo in B');
    assert.equal((await workflowOf(a.page)).nodes[nb].inputs.value, 23, 'B\'s edit stays');
    assert.equal((await workflowOf(b.page)).nodes[nb].inputs.value, 23);

    // Offline edits merge on reconnect.
    await app(b.page, 'app.provider.disconnect()');
    await app(b.page, `app.graph.setWidget('${nb}', 'value', 99)`);
    await app(a.page, `app.graph.setTitle('${na}', 'from A while B was away')`);
    await app(b.page, 'app.provider.connect()');
    await waitUntil(async () => isDeepStrictEqual(await workflowOf(a.page), await workflowOf(b.page)), 'convergence after reconnect');
    const merged = await workflowOf(a.page);
    assert.equal(merged.nodes[nb].inputs.value, 99);
    assert.equal(merged.ui.nodes[na].title, 'from A while B was away');
    assert.deepEqual([...a.errors, ...b.errors], []);
    await a.page.context().close();
    await b.page.context().close();

    // The workflow file follows the document (saved within a second), and a restart keeps it.
    await waitUntil(async () => {
      const res = await fetch(`${server.url}/api/workflows/together`);
      // By content: the server's document may list concurrently added nodes in another order.
      return res.ok && isDeepStrictEqual(((await res.json()) as { nodes: unknown }).nodes, merged.nodes);
    }, 'the saved workflow file', 5000);
    await server.close();
    server = await startEditorServer(dataDir);
    const c = await openEditor(browser, server.url, 'together');
    assert.deepEqual((await workflowOf(c.page)).nodes, merged.nodes, 'the document survives a restart');
    await c.page.context().close();
  });
});

describe('editor behind a token (Chromium)', { timeout: 60_000 }, () => {
  it('asks for the token, then opens the workflow that was asked for, collaborates and runs', async () => {
    const token = 'a-long-enough-test-token-0123';
    const dataDir = tempDir('sanagraph-editor-token-');
    const browser = await launchBrowser();
    const server = await startEditorServer(dataDir, token);
    try {
      const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
      await page.goto(`${server.url}/?workflow=demo`);
      await page.fill('#t', 'wrong');
      await page.click('button');
      await page.locator('#m', { hasText: 'Wrong token' }).waitFor();
      await page.fill('#t', token);
      await page.click('button');
      await page.waitForSelector('body[data-ready=true]');
      assert.equal(await page.locator('sg-node').count(), 7);
      assert.equal(await page.locator('#connection').innerText(), 'live', 'the collaboration socket got in with the cookie');
      await page.click('#btn-queue');
      await page.locator('sg-node[data-node-id="7"] .images img').waitFor({ timeout: 60_000 });
    } finally {
      await browser.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
