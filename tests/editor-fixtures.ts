/**
 * Browser-test helpers: a real server serving the built editor, Debian's Chromium driven by
 * playwright-core, and UI gestures (search-and-add, socket drags) done with the mouse.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildEditor } from '../tools/build-editor.ts';
import { startServer, type RunningServer } from '../server/serve.ts';
import { quietLogger } from './helpers.ts';
import { waitUntil } from './server-fixtures/harness.ts';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function launchBrowser(): Promise<Browser> {
  await buildEditor({ ifStale: true });
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** A server on a free port over `dataDir` (kept between restarts), with the repository's models. */
export function startEditorServer(dataDir: string, token?: string): Promise<RunningServer> {
  return startServer({
    port: 0, dataDir, logger: quietLogger, token,
    engine: {
      outputDir: path.join(dataDir, 'output'), inputDir: path.join(dataDir, 'input'), tempDir: path.join(dataDir, 'tmp'),
      modelsDir: path.resolve('models'), threads: 1,
    },
  });
}

export interface EditorPage { page: Page; errors: string[] }

/** Opens the editor on a workflow and waits until it shows the document. */
export async function openEditor(browser: Browser, url: string, workflow: string): Promise<EditorPage> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/?workflow=${encodeURIComponent(workflow)}`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 15_000 });
  return { page, errors };
}

/** The native workflow the page's editor holds. */
export function workflowOf(page: Page): Promise<{ nodes: Record<string, { type: string; inputs: Record<string, unknown> }>; ui: { nodes: Record<string, { pos: [number, number]; title?: string }> } }> {
  return page.evaluate('app.graph.toWorkflow()');
}

/** Double-clicks the canvas at (x, y) (page pixels), searches, picks the first match; returns the new node's id. */
export async function addNodeBySearch(page: Page, query: string, at: { x: number; y: number }): Promise<string> {
  const before = new Set(Object.keys((await workflowOf(page)).nodes));
  await page.mouse.dblclick(at.x, at.y);
  await page.locator('.quick-search input').fill(query);
  await page.locator('.quick-search input').press('Enter');
  let id: string | undefined;
  await waitUntil(async () => {
    id = Object.keys((await workflowOf(page)).nodes).find((n) => !before.has(n));
    return id !== undefined && (await page.locator(`sg-node[data-node-id="${id}"]`).count()) === 1;
  }, `a node for "${query}"`);
  return id!;
}

/** An output socket, or an input's (a socket input, or a widget's socket). */
const socket = (node: string, side: 'output' | 'input', key: string | number) =>
  `sg-node[data-node-id="${node}"] [data-${side}="${key}"] .sg-socket`;

/** Drags with the mouse from an output socket to an input socket. */
export async function dragLink(page: Page, from: string, output: number, to: string, input: string): Promise<void> {
  const a = await page.locator(socket(from, 'output', output)).boundingBox();
  const b = await page.locator(socket(to, 'input', input)).boundingBox();
  if (!a || !b) throw new Error(`socket not visible: ${from}#${output} or ${to}.${input}`);
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

/** 500 nodes: the demo workflow (7 nodes, 9 links) 71 times over in a grid, plus 3 loose nodes. */
export function bigWorkflow() {
  const demo = JSON.parse(readFileSync('workflows/demo.json', 'utf8'));
  const nodes: Record<string, { type: string; inputs: Record<string, unknown> }> = {};
  const ui: Record<string, { pos: [number, number] }> = {};
  for (let copy = 0; copy < 71; copy++) {
    for (const [id, node] of Object.entries<{ type: string; inputs: Record<string, unknown> }>(demo.nodes)) {
      const inputs = Object.fromEntries(Object.entries(node.inputs).map(([k, v]) => [k, Array.isArray(v) ? [`${copy}_${v[0]}`, v[1]] : v]));
      nodes[`${copy}_${id}`] = { type: node.type, inputs };
      const [x, y] = demo.ui.nodes[id].pos;
      ui[`${copy}_${id}`] = { pos: [x + (copy % 8) * 2000, y + Math.floor(copy / 8) * 800] };
    }
  }
  for (let i = 0; i < 3; i++) {
    nodes[`extra_${i}`] = { type: 'PrimitiveInt', inputs: { value: i } };
    ui[`extra_${i}`] = { pos: [i * 400, -600] };
  }
  return { format: 'sanagraph/workflow@1', nodes, ui: { nodes: ui } };
}

