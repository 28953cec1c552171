/**
 * `npm run bench` prints a table; `npm run bench -- --json` prints one
 * {"metric", "value", "unit"} object per line. `--only engine` runs one group.
 */
import { demoBench } from './demo.bench.ts';
import { distributedBench } from './distributed.bench.ts';
import { editorBench } from './editor.bench.ts';
import { engineBench } from './engine.bench.ts';
import { pipelineBench } from './pipeline.bench.ts';
import { realsizeBench } from './realsize.bench.ts';
import { serverBench } from './server.bench.ts';
import type { Metric } from './util.ts';

const groups: Record<string, () => Promise<Metric[]>> = {
  engine: engineBench,
  pipeline: pipelineBench,
  realsize: realsizeBench,
  server: serverBench,
  demo: demoBench,
  editor: editorBench,
  distributed: distributedBench,
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1]?.split(',') : undefined;

for (const [name, bench] of Object.entries(groups)) {
  if (only && !only.includes(name)) continue;
  for (const m of await bench()) {
    if (json) console.log(JSON.stringify({ metric: m.metric, value: m.value, unit: m.unit }));
    else console.log(`${m.metric.padEnd(36)} ${String(m.value).padStart(10)} ${m.unit.padEnd(6)} ${m.target ? `(target ${m.target})` : ''}`);
  }
}
