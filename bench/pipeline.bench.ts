import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EngineThread } from '../engine/engine-thread.ts';
import type { EngineEvent } from '../engine/index.ts';
import { tinyModels, tinyWorkflow } from '../tests/tiny-fixtures.ts';
import { median, round, type Metric } from './util.ts';

/**
 * The tiny Sana pipeline on the CPU, run as the CLI and the server run it: on an engine thread
 * with the ONNX sessions in that thread. Engine overhead around ONNX Runtime, warm latency, and
 * how responsive the calling thread stays.
 */
async function setup() {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sanagraph-bench-'));
  const engine = new EngineThread({
    setup: new URL('../nodes/engine-setup.ts', import.meta.url).href,
    options: { outputDir: path.join(tmp, 'out'), tempDir: path.join(tmp, 'temp') },
  });
  const wf = await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }));
  delete wf.nodes['8']; // SaveLatent would overlap the decode and blur the Sampler + decode window
  return { engine, wf };
}

const ortMs = async (engine: EngineThread) => (await engine.command<{ runMs: number }>('runtimeStats')).runMs;

export async function pipelineBench(): Promise<Metric[]> {
  const { engine, wf } = await setup();
  /** Runs with a new seed: the text encodings come from the cache, everything after the noise runs. */
  const run = async (seed: number, onEvent?: (e: EngineEvent) => void) => {
    wf.nodes['4'].inputs.seed = seed;
    const result = await engine.execute(wf, { onEvent });
    if (result.status !== 'success') throw new Error(result.error?.exception_message);
  };
  await run(0); // loads the sessions and caches the text encodings

  const warm: number[] = [];
  const ratios: number[] = [];
  const outside: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  for (let i = 1; i <= 11; i++) {
    // Sampler (20 guided steps) + decode: from the Sampler's start to SaveImage's, against the
    // time inside ONNX Runtime (all of this run's model calls fall in that window).
    let t0 = 0;
    let window = 0;
    const ort0 = await ortMs(engine);
    const start = performance.now();
    await run(i, (e) => {
      if (e.type !== 'executing') return;
      if (e.data.node === '5') t0 = performance.now();
      if (e.data.node === '7') window = performance.now() - t0;
    });
    warm.push(performance.now() - start);
    const inOrt = (await ortMs(engine)) - ort0;
    ratios.push(window / inOrt);
    outside.push(window - inOrt);
  }
  loop.disable();
  await engine.close();
  return [
    { metric: 'pipeline.overhead_ratio', value: round(median(ratios)), unit: 'ratio' }, // tiny model: a regression guard; realsize.* is what users feel
    // The same window's time outside ONNX Runtime: engine, tensor math in JS, decode post-processing.
    { metric: 'pipeline.outside_onnx_ms', value: round(median(outside), 2), unit: 'ms' },
    { metric: 'pipeline.tiny_warm_ms', value: round(median(warm), 2), unit: 'ms' }, // text encodings cached
    { metric: 'runtime.event_loop_p99_ms', value: round(loop.percentile(99) / 1e6, 2), unit: 'ms', target: '<= 20' },
  ];
}
