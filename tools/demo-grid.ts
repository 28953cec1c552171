/**
 * Renders the demo model's sample grid for the README: one image per prompt (seed fixed),
 * written to docs/images/demo/, and prints the Markdown table that shows them with their prompts.
 *
 *   node --import tsx tools/demo-grid.ts
 */
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createEngine } from '../nodes/engine-setup.ts';

const PROMPTS = [
  'a large red circle in the center on a blue background',
  'a small yellow square on the left on a black background',
  'a green triangle at the top on a white background',
  'a large purple square at the bottom on an orange background',
  'a small white circle on the right on a green background',
  'An orange triangle, in the center on a purple background.',
];
const COLUMNS = 3;
const out = 'docs/images/demo';
mkdirSync(out, { recursive: true });

const { engine, services } = await createEngine({ outputDir: out, tempDir: '/tmp/sanagraph-grid', modelsDir: 'models' });
const workflow = JSON.parse(readFileSync('workflows/demo.json', 'utf8'));
workflow.nodes['1'].inputs.device = 'cpu';
const cells: string[] = [];
for (const [i, prompt] of PROMPTS.entries()) {
  workflow.nodes['2'].inputs.text = prompt;
  workflow.nodes['4'].inputs.seed = 100 + i;
  workflow.nodes['7'].inputs.filename_prefix = 'tmp';
  const result = await engine.execute(workflow);
  if (result.status !== 'success') throw new Error(result.error?.exception_message);
  const file = (result.outputs['7'].images as { filename: string }[])[0].filename;
  const name = `${i + 1}.png`;
  renameSync(path.join(out, file), path.join(out, name));
  cells.push(`<img src="docs/images/demo/${name}" width="128" alt=""><br><sub>${prompt}</sub>`);
}
await services.models.close();
const rows: string[] = [];
for (let i = 0; i < cells.length; i += COLUMNS) rows.push(`| ${cells.slice(i, i + COLUMNS).join(' | ')} |`);
console.log([`| ${Array(COLUMNS).fill(' ').join(' | ')} |`, `|${Array(COLUMNS).fill(' :---: ').join('|')}|`, ...rows].join('\n'));
