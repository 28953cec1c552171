/**
 * Makes the editor screenshots in docs/images/editor (run by hand after visible changes):
 *   node --import tsx tools/editor-screenshots.ts
 * A real server with the demo model, two people on the demo workflow, one of them running it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser, openEditor, startEditorServer } from '../tests/editor-fixtures.ts';
import { tempDir } from '../tests/helpers.ts';

const out = path.resolve('docs/images/editor');
mkdirSync(out, { recursive: true });
const dataDir = tempDir('sanagraph-shots-');
const browser = await launchBrowser();
const server = await startEditorServer(dataDir);
try {
  const ada = await openEditor(browser, server.url, 'demo');
  const bob = await openEditor(browser, server.url, 'demo');
  await ada.page.fill('#user-name', 'Ada');
  await ada.page.press('#user-name', 'Enter');
  await bob.page.fill('#user-name', 'Grace');
  await bob.page.press('#user-name', 'Enter');

  // Ada runs the workflow; Grace points at the sampler and selects the prompt.
  await ada.page.click('#btn-queue');
  await ada.page.locator('sg-node[data-node-id="7"] .images img').waitFor({ timeout: 60_000 });
  const title = await bob.page.locator('sg-node[data-node-id="2"] .title').boundingBox();
  await bob.page.mouse.click(title!.x + 40, title!.y + 10);
  const sampler = await bob.page.locator('sg-node[data-node-id="5"]').boundingBox();
  await bob.page.mouse.move(sampler!.x + 60, sampler!.y + sampler!.height + 30, { steps: 4 });
  await ada.page.locator('.remote-cursor').waitFor();
  await ada.page.waitForTimeout(300);
  await ada.page.screenshot({ path: path.join(out, 'editor.png') });

  // The node search, opened by a double-click on the canvas.
  await ada.page.mouse.dblclick(330, 700);
  await ada.page.locator('.quick-search input').fill('lat');
  await ada.page.waitForTimeout(200);
  await ada.page.screenshot({ path: path.join(out, 'search.png'), clip: { x: 200, y: 420, width: 700, height: 480 } });
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
