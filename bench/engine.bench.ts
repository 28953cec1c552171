import { defineNode, Engine, INT, int, socket, type Logger } from '../engine/index.ts';
import { median, round, timeRuns, type Metric } from './util.ts';

/** Scheduling overhead of the engine itself, on trivial synchronous nodes. */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export const nodes = [
  defineNode({ type: 'BConst', category: 'bench', description: '', inputs: { value: int({ default: 0 }) },
    outputs: [{ name: 'v', type: INT }], run: ({ value }) => [value] }),
  defineNode({ type: 'BInc', category: 'bench', description: '', inputs: { x: socket(INT) },
    outputs: [{ name: 'v', type: INT }], run: ({ x }) => [x + 1] }),
  defineNode({ type: 'BAdd', category: 'bench', description: '', inputs: { a: socket(INT), b: socket(INT) },
    outputs: [{ name: 'v', type: INT }], run: ({ a, b }) => [a + b] }),
  defineNode({ type: 'BOut', category: 'bench', description: '', output: true, inputs: { x: socket(INT) },
    outputs: [], run: ({ x }) => ({ ui: { value: [x] } }) }),
];

function engine(): Engine {
  const e = new Engine({ logger: quiet });
  e.registry.register(nodes, 'bench');
  return e;
}

type Nodes = Record<string, { type: string; inputs: Record<string, unknown> }>;
const wf = (n: Nodes) => ({ format: 'sanagraph/workflow@1' as const, nodes: n });

/** Const → Inc × (n − 2) → Out: n nodes. */
export function chain(n: number) {
  const g: Nodes = { 0: { type: 'BConst', inputs: { value: 0 } } };
  for (let i = 1; i < n - 1; i++) g[i] = { type: 'BInc', inputs: { x: [String(i - 1), 0] } };
  g.out = { type: 'BOut', inputs: { x: [String(n - 2), 0] } };
  return wf(g);
}

/** One source fanned out to `leaves` Inc nodes, summed back pairwise to one output (≈ 2·leaves nodes). */
export function wide(leaves: number) {
  const g: Nodes = { src: { type: 'BConst', inputs: { value: 1 } } };
  let level = Array.from({ length: leaves }, (_, i) => {
    g[`l${i}`] = { type: 'BInc', inputs: { x: ['src', 0] } };
    return `l${i}`;
  });
  let id = 0;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      g[`s${id}`] = { type: 'BAdd', inputs: { a: [level[i], 0], b: [level[i + 1], 0] } };
      next.push(`s${id++}`);
    }
    if (level.length % 2) next.push(level.at(-1)!);
    level = next;
  }
  g.out = { type: 'BOut', inputs: { x: [level[0], 0] } };
  return wf(g);
}

/** Median cold-cache time of one run (a fresh engine each time). */
async function cold(workflow: ReturnType<typeof chain>, runs: number): Promise<number> {
  return median(await timeRuns(runs, () => engine().execute(workflow)));
}

async function cachedRerun(workflow: ReturnType<typeof chain>, runs: number): Promise<number> {
  const e = engine();
  await e.execute(workflow);
  return median(await timeRuns(runs, () => e.execute(workflow)));
}

export async function engineBench(): Promise<Metric[]> {
  const chain10k = chain(10_000);
  const chain1k = chain(1_000);
  const chain500 = chain(500);
  const wide2k = wide(1_000);
  const wideCount = Object.keys(wide2k.nodes).length;

  const t10k = await cold(chain10k, 7);
  const t1k = await cold(chain1k, 15);
  const t500 = await cold(chain500, 21);
  const tWide = await cold(wide2k, 15);
  return [
    { metric: 'engine.per_node_us', value: round((t10k * 1000) / 10_000), unit: 'us', target: '<= 20' },
    { metric: 'engine.cached_rerun_ms', value: round(await cachedRerun(chain10k, 15)), unit: 'ms', target: '<= 20' },
    { metric: 'engine.wide_per_node_us', value: round((tWide * 1000) / wideCount), unit: 'us', target: '<= 20' },
    { metric: 'engine.chain500_per_node_us', value: round((t500 * 1000) / 500), unit: 'us' },
    { metric: 'engine.chain500_cached_rerun_ms', value: round(await cachedRerun(chain500, 21)), unit: 'ms' },
    { metric: 'engine.growth_exponent', value: round(Math.log(t10k / t1k) / Math.log(10)), unit: 'ratio', target: '~1.0' },
  ];
}
