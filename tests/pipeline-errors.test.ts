import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { serializeSafetensors } from '../engine/tensor-files.ts';
import { float32 } from '../engine/tensor.ts';
import { GraphBuilder } from '../engine/onnx/graph-builder.ts';
import { tempDir } from './helpers.ts';
import { pipelineEngine, tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

const setups: ReturnType<typeof pipelineEngine>[] = [];
after(async () => { for (const s of setups) await s.services.models.close(); });

/** A copy of a tiny model folder that a test may break. */
async function copyOf(layout: 'sanagraph' | 'optimum' = 'sanagraph', opts: { textEncoder?: boolean } = {}): Promise<string> {
  const dir = path.join(tempDir(), layout);
  cpSync(await tinyModels({ layout, ...opts }), dir, { recursive: true });
  return dir;
}

/** Runs the tiny workflow and returns the error, which must name the node and the input. */
async function failure(wf: unknown, inputDir?: string) {
  const s = pipelineEngine({ inputDir });
  setups.push(s);
  const result = await s.engine.execute(wf);
  assert.equal(result.status, 'error', 'the run must fail');
  return result.error!;
}

async function expectError(dir: string, nodeType: string, input: string, pattern: RegExp, overrides = {}) {
  const error = await failure(await tinyWorkflow(dir, overrides));
  assert.equal(error.node_type, nodeType, error.exception_message);
  assert.ok(error.exception_message.startsWith(`input "${input}": `), error.exception_message);
  assert.match(error.exception_message, pattern);
}

const editJson = (file: string, edit: (json: Record<string, unknown>) => void) => {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  edit(json);
  writeFileSync(file, JSON.stringify(json));
};

describe('bad model folders and inputs get clear errors', () => {
  it('a folder that does not exist, or holds no manifest', async () => {
    await expectError(path.join(tempDir(), 'nope'), 'LoadPipeline', 'path', /model folder .*nope does not exist/);
    await expectError(tempDir(), 'LoadPipeline', 'path', /has neither pipeline\.json .* nor model_index\.json/);
  });

  it('a malformed pipeline.json: not JSON, or a field missing', async () => {
    const dir = await copyOf();
    writeFileSync(path.join(dir, 'pipeline.json'), '{ "format": "sanagraph/pipeline@1", ');
    await expectError(dir, 'LoadPipeline', 'path', /pipeline\.json is not valid JSON/);
    const dir2 = await copyOf();
    editJson(path.join(dir2, 'pipeline.json'), (j) => { delete (j.vae as Record<string, unknown>).scalingFactor; });
    await expectError(dir2, 'LoadPipeline', 'path', /pipeline\.json is malformed: vae\.scalingFactor: /);
  });

  it('a malformed optimum export: a config missing, or without the values we need', async () => {
    const dir = await copyOf('optimum');
    rmSync(path.join(dir, 'transformer', 'config.json'));
    await expectError(dir, 'LoadPipeline', 'path', /transformer\/config\.json is missing/);
    const dir2 = await copyOf('optimum');
    editJson(path.join(dir2, 'vae_decoder', 'config.json'), (j) => { delete j.scaling_factor; });
    await expectError(dir2, 'LoadPipeline', 'path', /the VAE config has no scaling_factor/);
  });

  it('reads Python-written configs with -Infinity (as real Sana scheduler configs have)', async () => {
    const dir = await copyOf('optimum');
    assert.match(readFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), 'utf8'), /-Infinity/);
    const s = pipelineEngine();
    setups.push(s);
    const result = await s.engine.execute(await tinyWorkflow(dir, { 5: { steps: 2 } }));
    assert.equal(result.status, 'success', result.error?.exception_message);
  });

  it('a missing ONNX file', async () => {
    const dir = await copyOf();
    rmSync(path.join(dir, 'transformer.onnx'));
    await expectError(dir, 'LoadPipeline', 'path', /transformer model .*transformer\.onnx is missing/);
  });

  it('ONNX inputs with the wrong names', async () => {
    const dir = await copyOf();
    cpSync(path.join(dir, 'vae_decoder.onnx'), path.join(dir, 'transformer.onnx'));
    await expectError(dir, 'LoadPipeline', 'path', /transformer\.onnx has no latent input named "hidden_states" or "sample" \(it has: latent \[/);
  });

  it('ONNX inputs with the wrong rank', async () => {
    const dir = await copyOf();
    const g = new GraphBuilder({ seed: 1 });
    const hidden = g.input('hidden_states', 'float32', ['B', 32, 'h', 'w']);
    g.input('encoder_hidden_states', 'float32', ['B', 'L', 64]);
    g.input('encoder_attention_mask', 'float32', ['B', 'L']);
    g.input('timestep', 'float32', ['B', 1]);
    g.output(hidden, 'velocity', 'float32', ['B', 32, 'h', 'w']);
    writeFileSync(path.join(dir, 'transformer.onnx'), g.toBytes());
    await expectError(dir, 'LoadPipeline', 'path', /timestep input "timestep" has rank 2 \[B, 1\], expected rank 1/);
  });

  it('a manifest whose latent channels disagree with the model', async () => {
    const dir = await copyOf();
    editJson(path.join(dir, 'pipeline.json'), (j) => { (j.transformer as Record<string, unknown>).latentChannels = 16; });
    await expectError(dir, 'LoadPipeline', 'path', /latent input "hidden_states" has 32 channels but the pipeline says 16/);
  });

  it('latent channels that do not match the model', async () => {
    await expectError(await tinyModels({ layout: 'sanagraph' }), 'Sampler', 'latent', /has 16 channels \[1, 16, 16, 16\] but the model "tiny-random" expects 32/, { 4: { channels: 16 } });
  });

  it('a conditioning whose width does not match the model', async () => {
    const inputDir = tempDir();
    writeFileSync(path.join(inputDir, 'narrow.safetensors'), serializeSafetensors({ prompt_embeds: float32([1, 5, 8]) }));
    const wf = await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }));
    wf.nodes['2'] = { type: 'LoadConditioning', inputs: { path: 'narrow.safetensors' } };
    const error = await failure(wf, inputDir);
    assert.equal(error.node_type, 'Sampler');
    assert.match(error.exception_message, /^input "positive": text embeddings are 8 wide but the model "tiny-random" expects 64/);
  });

  it('sizes not divisible by the compression', async () => {
    await expectError(await tinyModels({ layout: 'sanagraph' }), 'LatentInit', 'width', /100 is not divisible by the spatial compression 32: use 96 or 128/, { 4: { width: 100 } });
  });

  it('cuda asked for where it is not installed: an error, not a fallback', async () => {
    await expectError(await tinyModels({ layout: 'sanagraph' }), 'LoadPipeline', 'device', /device "cuda" is unavailable: .*npm run setup:cuda.*sanagraph doctor/, { 1: { device: 'cuda' } });
  });

  it('webgpu asked for where no adapter exists: an error; auto falls back to the CPU and says so', async () => {
    const models = path.dirname(await tinyModels({ layout: 'sanagraph' }));
    const name = path.basename(await tinyModels({ layout: 'sanagraph' }));
    const env = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
    const run = (device: string) => new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/sanagraph.js', 'run', 'workflows/tiny-random.json', '--models-dir', models,
        '--output-dir', tempDir(), '--set', `1.path=${name}`, '--set', `1.device=${device}`, '--set', '5.steps=2'], { env },
      (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr }));
    });
    const explicit = await run('webgpu');
    assert.equal(explicit.code, 1);
    assert.match(explicit.stderr, /error in node 1 \(LoadPipeline\): input "device": device "webgpu" is unavailable: Failed to get a WebGPU adapter/);
    const auto = await run('auto');
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stderr, /device auto: cuda unavailable \(.*\); trying the next provider/);
  });

  it('a pipeline without a text encoder loads, and TextEncode says what to do instead', async () => {
    const dir = await copyOf('sanagraph', { textEncoder: false });
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'pipeline.json'), 'utf8')).textEncoder, null);
    const error = await failure(await tinyWorkflow(dir));
    assert.equal(error.node_type, 'TextEncode');
    assert.match(error.exception_message, /^input "text_encoder": pipeline "tiny-random" has no text encoder; load pre-computed embeddings with LoadConditioning/);
  });

  it('input files: missing, of the wrong kind, or without the key', async () => {
    const inputDir = tempDir();
    mkdirSync(path.join(inputDir, 'sub'));
    writeFileSync(path.join(inputDir, 'sub', 'l.safetensors'), serializeSafetensors({ other: float32([1, 32, 4, 4]) }));
    writeFileSync(path.join(inputDir, 'not.txt'), 'hello');
    const wf = (inputs: Record<string, unknown>) => ({ format: 'sanagraph/workflow@1', nodes: {
      1: { type: 'LoadLatent', inputs }, 2: { type: 'SaveLatent', inputs: { latent: ['1', 0] } } } });
    const missing = await failure(wf({ path: 'nope.safetensors' }), inputDir);
    assert.match(missing.exception_message, /^input "path": .*nope\.safetensors does not exist/);
    const wrongKind = await failure(wf({ path: 'not.txt' }), inputDir);
    assert.match(wrongKind.exception_message, /^input "path": .*not\.txt: expected a \.safetensors or \.npy file/);
    const noKey = await failure(wf({ path: 'sub/l.safetensors' }), inputDir);
    assert.match(noKey.exception_message, /^input "key": .*l\.safetensors has no tensor "latent" \(it has: other\)/);
  });

  it('Guidance without velocity_uncond needs a stacked (even) batch', async () => {
    const wf = (batch: number) => ({ format: 'sanagraph/workflow@1', nodes: {
      1: { type: 'LatentInit', inputs: { width: 64, height: 64, batch_size: batch } },
      2: { type: 'Guidance', inputs: { velocity_cond: ['1', 0], scale: 2 } },
      3: { type: 'SaveLatent', inputs: { latent: ['2', 0] } } } });
    const odd = await failure(wf(3));
    assert.equal(odd.node_type, 'Guidance');
    assert.match(odd.exception_message, /^input "velocity_uncond": is not connected, so velocity_cond must stack .* shape \[3, 32, 2, 2\]/);
    const s = pipelineEngine();
    setups.push(s);
    assert.equal((await s.engine.execute(wf(2))).status, 'success');
  });
});
