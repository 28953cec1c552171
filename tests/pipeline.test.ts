import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decode } from 'fast-png';
import { readTensorFile } from '../engine/tensor-files.ts';
import type { EngineEvent, Float32Tensor } from '../engine/index.ts';
import { pipelineEngine, tinyModels, tinyWorkflow } from './tiny-fixtures.ts';
import { recorder } from './helpers.ts';
import { workflowFromPng } from '../engine/workflow-png.ts';

type Setup = ReturnType<typeof pipelineEngine>;
const setups: Setup[] = [];
function setup(opts?: { inputDir?: string }): Setup {
  const s = pipelineEngine(opts);
  setups.push(s);
  return s;
}
after(async () => { for (const s of setups) await s.services.models.close(); });

/** Runs a workflow and returns the latent SaveLatent wrote (node 8 of the tiny workflow). */
async function finalLatent({ engine }: Setup, wf: unknown, onEvent?: (e: EngineEvent) => void) {
  const result = await engine.execute(wf, { onEvent });
  assert.equal(result.status, 'success', result.error?.exception_message);
  const file = (result.outputs['8'].latents as { filename: string }[])[0].filename;
  const latent = (await readTensorFile(path.join(engine.outputDir, file))).get('latent') as Float32Tensor;
  return { result, latent };
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}

describe('the tiny Sana pipeline', () => {
  it('runs workflows/tiny-random.json on the CPU: a PNG with the workflow embedded, the latent, progress per step', async () => {
    const s = setup();
    const dir = await tinyModels({ layout: 'sanagraph' });
    const wf = await tinyWorkflow(dir);
    const rec = recorder();
    const { result, latent } = await finalLatent(s, wf, rec.onEvent);

    assert.deepEqual(latent.dims, [1, 32, 16, 16]);
    assert.ok(latent.data.every(Number.isFinite));
    const image = (result.outputs['7'].images as { filename: string; subfolder: string; type: string }[])[0];
    assert.deepEqual(image, { filename: 'tiny_00001.png', subfolder: '', type: 'output' });
    const png = decode(readFileSync(path.join(s.engine.outputDir, image.filename)));
    assert.deepEqual([png.width, png.height, png.channels, png.depth], [512, 512, 3, 8]);
    const embedded = JSON.parse(png.text.workflow);
    assert.deepEqual(embedded.nodes['5'], wf.nodes['5']);
    assert.equal(JSON.parse(png.text.prompt)['5'].class_type, 'Sampler', 'also in ComfyUI\'s API format');

    const progress = rec.events.filter((e) => e.type === 'progress' && e.data.node === '5');
    assert.deepEqual(progress.map((e) => e.type === 'progress' && e.data.value), Array.from({ length: 20 }, (_, i) => i + 1));
    const steps = rec.events.filter((e) => e.type === 'executing' && e.data.display_node === '5' && e.data.node !== '5');
    assert.equal(steps.length, 1 + 20 * 3, 'ConcatConditioning, then DiTStep + Guidance (taking the stacked 2B velocity) + SolverStep per step');
  });

  it('saves images of prompts in any script: the workflow goes in as UTF-8 iTXt, as ComfyUI writes it', async () => {
    const s = setup();
    const wf = await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }), { 2: { text: '富士山の上の赤い丸 🔴' }, 5: { steps: 2 } });
    const { result } = await finalLatent(s, wf);
    const image = (result.outputs['7'].images as { filename: string }[])[0];
    const bytes = readFileSync(path.join(s.engine.outputDir, image.filename));
    assert.equal((workflowFromPng(bytes) as typeof wf).nodes['2'].inputs.text, '富士山の上の赤い丸 🔴');
    assert.deepEqual([decode(bytes).width, decode(bytes).height], [512, 512]);
  });

  it('gives the same latent for a seed run after other seeds (the steps reuse earlier runs\' arrays)', async () => {
    const s = setup();
    const dir = await tinyModels({ layout: 'sanagraph' });
    const first = await finalLatent(s, await tinyWorkflow(dir, { 4: { seed: 7 }, 5: { steps: 4 } }));
    const kept = first.result.executed.length;
    const second = await finalLatent(s, await tinyWorkflow(dir, { 4: { seed: 8 }, 5: { steps: 4 } }));
    assert.ok(!second.result.executed.includes('5.1') && second.result.executed.includes('5.2'),
      'the stacked conditioning stays cached (it holds no pool arrays); the steps run again');
    await finalLatent(s, await tinyWorkflow(dir, { 4: { seed: 9 }, 5: { steps: 5, scheduler: 'flow_euler' } }));
    s.engine.cache.clear();
    const again = await finalLatent(s, await tinyWorkflow(dir, { 4: { seed: 7 }, 5: { steps: 4 } }));
    assert.equal(again.result.executed.length, kept, 'everything ran again');
    assert.deepEqual(Array.from(again.latent.data), Array.from(first.latent.data));
  });

  it('runs on webgpu (Mesa lavapipe here) and matches the CPU latents', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const cpu = await finalLatent(setup(), await tinyWorkflow(dir));
    const onGpu = setup();
    const gpu = await finalLatent(onGpu, await tinyWorkflow(dir, { 1: { device: 'webgpu' } }));
    assert.deepEqual(onGpu.services.models.loaded().map((m) => m.provider), ['webgpu', 'webgpu', 'webgpu']);
    const err = relativeError(cpu.latent.data, gpu.latent.data);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('loads a Hugging Face optimum export of the same weights and gives the same latents', async () => {
    // optimum folders get diffusers' own instruction and 300 tokens; ours, a short one and 16
    // tokens. Without the instruction the padding is masked out and both must agree.
    const plain = { 2: { complex_human_instruction: false } };
    const ours = await finalLatent(setup(), await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }), plain));
    const optimum = await finalLatent(setup(), await tinyWorkflow(await tinyModels({ layout: 'optimum' }), plain));
    const err = relativeError(ours.latent.data, optimum.latent.data);
    assert.ok(err <= 1e-5, `relative error ${err}`);
  });

  it('feeds an fp16 transformer (inputs converted to float16, outputs back to float32)', async () => {
    const fp32 = await finalLatent(setup(), await tinyWorkflow(await tinyModels({ layout: 'sanagraph' })));
    const fp16 = await finalLatent(setup(), await tinyWorkflow(await tinyModels({ layout: 'sanagraph', fp16: true })));
    assert.ok(fp16.latent.data.every(Number.isFinite));
    const err = relativeError(fp32.latent.data, fp16.latent.data);
    assert.ok(err > 0 && err < 0.05, `fp16 differs from fp32 by a rounding-sized amount (relative error ${err})`);
  });

  it('batches the conditional and unconditional passes as 2B, giving what separate passes give', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const steps = 3;
    const batched = await finalLatent(setup(), await tinyWorkflow(dir, { 5: { steps } }));
    // The same three steps written out by hand, one model pass per conditioning.
    const wf = await tinyWorkflow(dir);
    const { makeSchedule } = await import('../nodes/schedules.ts');
    const { timesteps } = makeSchedule('flow_dpmpp_2m', steps, 3.0);
    let x: unknown = ['4', 0];
    let x0: unknown;
    timesteps.forEach((t, i) => {
      wf.nodes[`c${i}`] = { type: 'DiTStep', inputs: { model: ['1', 0], latent: x, conditioning: ['2', 0], timestep: t } };
      wf.nodes[`u${i}`] = { type: 'DiTStep', inputs: { model: ['1', 0], latent: x, conditioning: ['3', 0], timestep: t } };
      wf.nodes[`g${i}`] = { type: 'Guidance', inputs: { velocity_cond: [`c${i}`, 0], velocity_uncond: [`u${i}`, 0], scale: 4.5 } };
      wf.nodes[`s${i}`] = { type: 'SolverStep', inputs: { latent: x, velocity: [`g${i}`, 0], ...(x0 ? { prev_x0: x0 } : {}), scheduler: 'flow_dpmpp_2m', step: i, steps, flow_shift: 3.0 } };
      x = [`s${i}`, 0];
      x0 = [`s${i}`, 1];
    });
    wf.nodes['8'].inputs.latent = x;
    const manual = await finalLatent(setup(), wf);
    const err = relativeError(batched.latent.data, manual.latent.data);
    assert.ok(err <= 1e-5, `relative error ${err}`);
  });

  it('skips the unconditional pass when guidance_scale <= 1 (no negative needed)', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const wf = await tinyWorkflow(dir, { 5: { guidance_scale: 1, steps: 4 } });
    delete wf.nodes['5'].inputs.negative;
    const { result } = await finalLatent(setup(), wf);
    const steps = result.executed.filter((id) => id.startsWith('5.'));
    assert.equal(steps.length, 8, 'DiTStep + SolverStep per step, no ConcatConditioning or Guidance');
    assert.ok(!result.executed.includes('3'), 'the negative prompt is not even encoded');
  });

  it('accepts ComfyUI\'s full seed range (JSON numbers above 2^53 arrive rounded)', async () => {
    const s = setup();
    const wf = JSON.parse('{"format":"sanagraph/workflow@1","nodes":{"1":{"type":"LatentInit","inputs":{"width":64,"height":64,"seed":18446744073709551615}},"2":{"type":"SaveLatent","inputs":{"latent":["1",0]}}}}');
    const result = await s.engine.execute(wf);
    assert.equal(result.status, 'success', result.error?.exception_message);
    const bad = s.engine.validate({ format: 'sanagraph/workflow@1', nodes: { 1: { type: 'LatentInit', inputs: { seed: -1 } }, 2: { type: 'SaveLatent', inputs: { latent: ['1', 0] } } } });
    assert.equal(bad.problems[0].message, 'seed must be an integer between 0 and 18446744073709551615, got -1');
  });

  it('reproduces torch\'s noise for a seed through LatentInit', async () => {
    const fixture = JSON.parse(readFileSync('tests/fixtures/torch-randn.json', 'utf8')) as
      { kernels: { avx2: { cases: { name: string; calls: { shape: number[]; values: number[] }[] }[] } } };
    const c = fixture.kernels.avx2.cases.find((k) => k.name === '[1,32,4,4] seed 42')!.calls[0];
    const s = setup();
    const result = await s.engine.execute({ format: 'sanagraph/workflow@1', nodes: {
      1: { type: 'LatentInit', inputs: { width: 128, height: 128, seed: 42 } },
      2: { type: 'SaveLatent', inputs: { latent: ['1', 0] } },
    } });
    const file = (result.outputs['2'].latents as { filename: string }[])[0].filename;
    const latent = (await readTensorFile(path.join(s.engine.outputDir, file))).get('latent')!;
    let max = 0;
    c.values.forEach((v, i) => { max = Math.max(max, Math.abs(v - (latent.data[i] as number))); });
    assert.ok(max <= 1e-6, `max abs diff ${max}`);
  });
});
