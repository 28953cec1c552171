import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine/index.ts';
import { createServices, registerBuiltins } from '../nodes/index.ts';
import { makeTinyModels, type TinyModelOptions } from '../tools/make-tiny-models.ts';
import { quietLogger, tempDir } from './helpers.ts';

/** Changes whenever the model builders change, so stale generated folders are never reused. */
const builderHash = createHash('sha1')
  .update(['tools/make-tiny-models.ts', 'engine/onnx/graph-builder.ts', 'engine/onnx/protobuf-writer.ts', ...readdirSync('tools/onnx').map((f) => `tools/onnx/${f}`)].map((f) => readFileSync(f, 'utf8')).join('\0'))
  .digest('hex').slice(0, 12);

/**
 * Tiny random-weight Sana models, generated once per option set into the OS temp folder
 * (deterministic from the seed and the builders' source, so a folder made earlier is reused).
 */
export async function tinyModels(opts: TinyModelOptions): Promise<string> {
  const name = [opts.shapes === 'real' ? 'realsize' : 'tiny', opts.layout, opts.seed ?? 42, opts.fp16 ? 'fp16' : 'fp32', opts.textEncoder === false ? 'notext' : 'text', opts.maskDtype ?? 'default'].join('-');
  const root = path.join(os.tmpdir(), `sanagraph-test-models-${builderHash}`);
  const dir = path.join(root, name);
  if (existsSync(dir)) return dir;
  const staging = `${dir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  await makeTinyModels(staging, opts);
  try {
    renameSync(staging, dir); // atomic: concurrent test files never see a half-written folder
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another process won the race
  }
  return dir;
}

/** An engine with the built-in nodes, writing into fresh temp folders. */
export function pipelineEngine(opts: { inputDir?: string } = {}) {
  const engine = new Engine({ outputDir: tempDir(), tempDir: tempDir(), logger: quietLogger });
  const services = registerBuiltins(engine.registry, createServices({ logger: quietLogger, modelsDir: tempDir(), inputDir: opts.inputDir }));
  return { engine, services };
}

/** workflows/tiny-random.json pointed at a model folder, with overrides per node. */
export async function tinyWorkflow(modelDir: string, overrides: Record<string, Record<string, unknown>> = {}) {
  const { readFile } = await import('node:fs/promises');
  const wf = JSON.parse(await readFile('workflows/tiny-random.json', 'utf8'));
  wf.nodes['1'].inputs.path = modelDir;
  wf.nodes['1'].inputs.device = 'cpu';
  for (const [id, inputs] of Object.entries(overrides)) Object.assign(wf.nodes[id].inputs, inputs);
  return wf;
}
