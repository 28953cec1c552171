import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { bigWorkflow, launchBrowser, openEditor, startEditorServer } from '../tests/editor-fixtures.ts';
import { tempDir } from '../tests/helpers.ts';
import { median, round, type Metric } from './util.ts';

/**
 * The editor in Chromium (headless, software rendering): how long a 500-node workflow takes to
 * open, and how long an edit in one page takes to show in another (loopback).
 */

const nodeCount = (page: Page) => page.locator('sg-node').count();

export async function editorBench(): Promise<Metric[]> {
  const dataDir = tempDir('sanagraph-bench-editor-');
  const browser = await launchBrowser();
  const server = await startEditorServer(dataDir);
  try {
    const put = await fetch(`${server.url}/api/workflows/big`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bigWorkflow()) });
    if (!put.ok) throw new Error(`saving the 500-node workflow failed: ${put.status}`);

    // Open until every node is rendered: navigation start → the editor has drawn the document and the
    // browser has painted it (two animation frames later).
    const loads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const { page } = await openEditor(browser, server.url, 'big');
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))'); // painted
      loads.push(performance.now() - t0);
      if ((await nodeCount(page)) !== 500) throw new Error(`rendered ${await nodeCount(page)} nodes, not 500`);
      await page.context().close();
    }

    // An edit in A until B's widget shows it (both timestamps from the same clock, in the pages).
    const a = await openEditor(browser, server.url, 'demo');
    const b = await openEditor(browser, server.url, 'demo');
    const syncs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const value = 1000 + i;
      const seen = b.page.evaluate(`new Promise((resolve) => {
        const input = () => document.querySelector('sg-node[data-node-id="5"] [name="steps"]');
        const check = () => input() && input().value === '${value}' ? resolve(performance.timeOrigin + performance.now()) : requestAnimationFrame(check);
        check();
      })`) as Promise<number>;
      const sent = await a.page.evaluate(`(() => { const t = performance.timeOrigin + performance.now(); app.graph.setWidget('5', 'steps', ${value}); return t; })()`) as number;
      syncs.push((await seen) - sent);
    }
    await a.page.context().close();
    await b.page.context().close();
    return [
      { metric: 'editor.load_500_ms', value: round(median(loads), 1), unit: 'ms', target: '<= 1500' },
      { metric: 'collab.sync_p50_ms', value: round(median(syncs), 1), unit: 'ms', target: '<= 50' },
    ];
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
