import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../engine/index.ts';
import { readTensorFile } from '../engine/tensor-files.ts';
import type { Tensor } from '../engine/tensor.ts';
import { createServices, registerBuiltins } from '../nodes/index.ts';
import { quietLogger, tempDir } from './helpers.ts';
import { tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

/**
 * The Sampler's device-resident loop (nodes/device-sampler.ts) on WebGPU, here on Mesa's
 * lavapipe: the same latents as the CPU path, and only timesteps and scalars cross per step.
 */
function engineWith(sessions: 'here' | 'worker') {
  const outputDir = tempDir();
  const engine = new Engine({ outputDir, tempDir: tempDir(), logger: quietLogger });
  const services = registerBuiltins(engine.registry, createServices({ logger: quietLogger, modelsDir: tempDir(), sessions }));
  return { engine, services, outputDir };
}

type Setup = ReturnType<typeof engineWith>;

/** Runs the tiny workflow up to the Sampler's latent (SaveLatent) and reads it back. */
async function sample(setup: Setup, modelDir: string, inputs: { device: string; steps?: number; scheduler?: string; guidance_scale?: number; seed?: number; batch?: number }) {
  const wf = await tinyWorkflow(modelDir, {
    1: { device: inputs.device },
    4: { width: 128, height: 96, seed: inputs.seed ?? 3, batch_size: inputs.batch ?? 1 },
    5: { steps: inputs.steps ?? 6, scheduler: inputs.scheduler ?? 'flow_dpmpp_2m', guidance_scale: inputs.guidance_scale ?? 4.5 },
  });
  delete wf.nodes['6'];
  delete wf.nodes['7'];
  const events: string[] = [];
  const result = await setup.engine.execute(wf, { onEvent: (e) => { if (e.type === 'progress' && e.data.node === '5') events.push(`${e.data.value}/${e.data.max}`); } });
  assert.equal(result.status, 'success', JSON.stringify(result.error));
  const saved = (result.outputs['8'] as { latents: { filename: string }[] }).latents[0];
  const latent = (await readTensorFile(path.join(setup.outputDir, saved.filename))).get('latent')!;
  return { latent, progress: events };
}

function relativeError(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Number(a.data[i]) - Number(b.data[i]);
    num += d * d;
    den += Number(b.data[i]) ** 2;
  }
  return Math.sqrt(num / den);
}

describe('device-resident sampling (webgpu on lavapipe)', () => {
  it('gives the CPU path\'s latents in fp32 (guided DPM-Solver++ 2M, unguided Euler), with progress per step', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    const gpu = engineWith('here');
    const cpu = engineWith('here');
    try {
      for (const inputs of [{ scheduler: 'flow_dpmpp_2m', guidance_scale: 4.5 }, { scheduler: 'flow_euler', guidance_scale: 1 }, { scheduler: 'flow_dpmpp_2m', guidance_scale: 3, batch: 2 }]) {
        const onGpu = await sample(gpu, modelDir, { device: 'webgpu', ...inputs });
        const onCpu = await sample(cpu, modelDir, { device: 'cpu', ...inputs });
        const err = relativeError(onGpu.latent, onCpu.latent);
        assert.ok(err <= 1e-5, `${inputs.scheduler}: relative error ${err}`);
        assert.ok(err > 0 || onGpu.latent.data !== onCpu.latent.data);
        assert.deepEqual(onGpu.progress, ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6'], 'one progress event a step');
      }
      assert.ok(gpu.services.models.loaded().some((m) => m.provider === 'webgpu' && m.outputsOnDevice), 'the transformer keeps its outputs on the device');
    } finally {
      await gpu.services.models.close();
      await cpu.services.models.close();
    }
  });

  it('runs an fp16 model: casts on the device, the latent in float32 between steps', async () => {
    const modelDir = await tinyModels({ layout: 'optimum', fp16: true });
    const gpu = engineWith('here');
    const cpu = engineWith('here');
    try {
      const onGpu = await sample(gpu, modelDir, { device: 'webgpu' });
      const onCpu = await sample(cpu, modelDir, { device: 'cpu' });
      const err = relativeError(onGpu.latent, onCpu.latent);
      // Both compute in fp16 inside the model, with different kernels: fp16's rounding (2⁻¹¹),
      // not a wrong cast or batch order (those give errors of order 1).
      assert.ok(err <= 5e-3, `relative error ${err}`);
      assert.ok(gpu.services.models.loaded().some((m) => m.outputsOnDevice && m.inputs.some((i) => i.type === 'float16')));
    } finally {
      await gpu.services.models.close();
      await cpu.services.models.close();
    }
  });

  it('moves only the timestep and the update scalars to the device per step, and reads back only the result', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    const gpu = engineWith('here');
    try {
      await sample(gpu, modelDir, { device: 'webgpu', steps: 4, seed: 1 }); // uploads the conditioning, makes the graphs
      const run = async (steps: number, seed: number) => {
        const before = gpu.services.models.transfers();
        const { latent } = await sample(gpu, modelDir, { device: 'webgpu', steps, seed });
        const after = gpu.services.models.transfers();
        return { up: after.hostToDevice - before.hostToDevice, down: after.deviceToHost - before.deviceToHost, latentBytes: latent.data.byteLength };
      };
      const short = await run(4, 2);
      const long = await run(12, 3);
      // Each step: the timestep [2] (float32) = 8 bytes, the guidance scale and the update's
      // scalars (DPM-Solver++: 3 or 5 float32) = 16 or 24 bytes.
      const perStep = (long.up - short.up) / 8;
      assert.ok(perStep > 0 && perStep <= 32, `${perStep} bytes a step to the device`);
      // The conditioning stays uploaded: a run adds the latent (once) and its steps, nothing else.
      assert.ok(short.up < short.latentBytes + 4 * 32 + 64, `a 4-step run moved ${short.up} bytes to the device`);
      assert.equal(short.down, short.latentBytes, 'only the final latent comes back');
      assert.equal(long.down, long.latentBytes);
    } finally {
      await gpu.services.models.close();
    }
  });

  it('reads a device-resident model\'s outputs back for nodes on the host (DiTStep)', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    const velocity = async (setup: Setup, device: string, timestep = 500) => {
      const wf = await tinyWorkflow(modelDir, { 1: { device }, 4: { width: 64, height: 64 } });
      wf.nodes['5'] = { type: 'DiTStep', inputs: { model: ['1', 0], latent: ['4', 0], conditioning: ['2', 0], timestep } };
      for (const id of ['3', '6', '7']) delete wf.nodes[id];
      const result = await setup.engine.execute(wf);
      assert.equal(result.status, 'success', JSON.stringify(result.error));
      const saved = (result.outputs['8'] as { latents: { filename: string }[] }).latents[0];
      return (await readTensorFile(path.join(setup.outputDir, saved.filename))).get('latent')!;
    };
    const gpu = engineWith('here');
    const cpu = engineWith('here');
    try {
      await velocity(gpu, 'webgpu', 999); // the text encoding is cached after this
      const before = gpu.services.models.transfers();
      const v = await velocity(gpu, 'webgpu');
      assert.ok(relativeError(v, await velocity(cpu, 'cpu')) <= 1e-5);
      assert.equal(gpu.services.models.transfers().deviceToHost - before.deviceToHost, v.data.byteLength, 'the velocity was read back, once');
    } finally {
      await gpu.services.models.close();
      await cpu.services.models.close();
    }
  });

  it('gives each latent of a batch both prompts (several images per prompt), on the host and the device', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    for (const [device, sessions] of [['cpu', 'worker'], ['webgpu', 'here']] as const) {
      const setup = engineWith(sessions);
      try {
        // torch draws a batch's noise in order: the first latent of a batch of 2 is the latent of a batch of 1.
        const one = (await sample(setup, modelDir, { device, batch: 1 })).latent;
        const two = (await sample(setup, modelDir, { device, batch: 2 })).latent;
        const first = { ...two, dims: one.dims, data: two.data.subarray(0, one.data.length) };
        assert.ok(relativeError(first, one) <= 1e-5, `${device}: the first image of a batch of 2 is the batch of 1's (${relativeError(first, one)})`);
      } finally {
        await setup.services.models.close();
      }
    }
  });

  it('stops at a step boundary when interrupted, frees what it holds, and runs again', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    const gpu = engineWith('here');
    try {
      const wf = await tinyWorkflow(modelDir, { 1: { device: 'webgpu' }, 4: { width: 64, height: 64 }, 5: { steps: 8 } });
      for (const id of ['6', '7']) delete wf.nodes[id];
      const abort = new AbortController();
      const progress: number[] = [];
      const stopped = await gpu.engine.execute(wf, {
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type !== 'progress' || e.data.node !== '5') return;
          progress.push(e.data.value);
          if (e.data.value === 3) abort.abort();
        },
      });
      assert.equal(stopped.status, 'interrupted');
      assert.deepEqual(progress, [1, 2, 3], 'no step after the interrupt');
      const again = await gpu.engine.execute(wf);
      assert.equal(again.status, 'success', JSON.stringify(again.error));
    } finally {
      await gpu.services.models.close();
    }
  });

  it('keeps the host path where device tensors cannot be used (sessions on a worker thread)', async () => {
    const modelDir = await tinyModels({ layout: 'sanagraph' });
    const setup = engineWith('worker');
    try {
      const before = setup.services.models.transfers();
      const { latent } = await sample(setup, modelDir, { device: 'webgpu', steps: 2 });
      assert.equal(latent.dims.length, 4);
      assert.deepEqual(setup.services.models.transfers(), before, 'no device loop: nothing counted in this thread');
      assert.ok(setup.services.models.loaded().every((m) => !m.outputsOnDevice));
    } finally {
      await setup.services.models.close();
    }
  });
});
