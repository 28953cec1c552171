import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EngineThread } from '../engine/engine-thread.ts';
import { writeSafetensors } from '../engine/tensor-files.ts';
import { float32 } from '../engine/tensor.ts';
import { tinyModels } from '../tests/tiny-fixtures.ts';
import { median, round, type Metric } from './util.ts';

/**
 * The text-to-image workflow a user runs, at Sana-1600M's real tensor shapes, on the CPU: 20
 * DPM-Solver++ steps with CFG 4.5 on [2, 32, h/32, w/32] latents and [2, 300, 2304] text
 * embeddings, the DC-AE decode to full resolution, SaveImage. The models take the real inputs and
 * outputs with a cheap body (REALSIZE_TRANSFORMER, REALSIZE_VAE), so what is measured is
 * everything around the model calls: what a user pays on top of the model itself on any device.
 *
 * Run as the CLI and the server run it: on an engine thread, sessions in that thread. The windows
 * are measured on the calling thread from the `executing` events (sent at once for workflow
 * nodes); the time inside ONNX Runtime comes from the engine thread, per model file.
 */
const STEPS = 20;
const TOKENS = 300;
const CAPTION = 2304;

interface Variant { res: number; fp16: boolean; runs: number; prefix: string }
const VARIANTS: Variant[] = [
  { res: 1024, fp16: true, runs: 7, prefix: 'realsize' },
  { res: 2048, fp16: true, runs: 5, prefix: 'realsize_2048' },
  { res: 1024, fp16: false, runs: 5, prefix: 'realsize_fp32' },
];

/** Random text embeddings with diffusers' shapes; the negative prompt's mask pads after 5 tokens. */
async function conditioning(dir: string): Promise<string> {
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const embeds = () => float32([1, TOKENS, CAPTION], Float32Array.from({ length: TOKENS * CAPTION }, rand));
  const mask = (n: number) => float32([1, TOKENS], Float32Array.from({ length: TOKENS }, (_, i) => (i < n ? 1 : 0)));
  const file = path.join(dir, 'conditioning.safetensors');
  await writeSafetensors(file, { prompt_embeds: embeds(), prompt_mask: mask(40), negative_embeds: embeds(), negative_mask: mask(5) });
  return file;
}

function workflow(modelDir: string, cond: string, res: number) {
  return {
    format: 'sanagraph/workflow@1',
    nodes: {
      '1': { type: 'LoadPipeline', inputs: { path: modelDir, device: 'cpu' } },
      '2': { type: 'LoadConditioning', inputs: { path: cond, embeds_key: 'prompt_embeds', mask_key: 'prompt_mask' } },
      '3': { type: 'LoadConditioning', inputs: { path: cond, embeds_key: 'negative_embeds', mask_key: 'negative_mask' } },
      '4': { type: 'LatentInit', inputs: { width: res, height: res, batch_size: 1, seed: 0, channels: 32, spatial_compression: 32 } },
      '5': { type: 'Sampler', inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent: ['4', 0], steps: STEPS, guidance_scale: 4.5, scheduler: 'flow_dpmpp_2m', flow_shift: 3.0 } },
      '6': { type: 'DCAEDecode', inputs: { vae: ['1', 2], latent: ['5', 0] } },
      '7': { type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'realsize' } },
    },
  };
}

interface Stats { runMs: number; byModel: Record<string, number>; transfers: { hostToDevice: number; deviceToHost: number } }

function engineThread(tmp: string) {
  return new EngineThread({
    setup: new URL('../nodes/engine-setup.ts', import.meta.url).href,
    options: { outputDir: path.join(tmp, 'out'), tempDir: path.join(tmp, 'temp') },
  });
}

async function measure(v: Variant): Promise<Metric[]> {
  const modelDir = await tinyModels({ layout: 'optimum', shapes: 'real', fp16: v.fp16 });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sanagraph-realsize-'));
  const wf = workflow(modelDir, await conditioning(tmp), v.res);
  const engine = engineThread(tmp);
  const stats = () => engine.command<Stats>('runtimeStats');
  const decoderMs = (s: Stats) => Object.entries(s.byModel).filter(([file]) => file.includes('vae_decoder')).reduce((n, [, ms]) => n + ms, 0);
  const perStep: number[] = [];
  const after: number[] = [];
  const ratios: number[] = [];
  try {
    for (let i = 0; i <= v.runs; i++) {
      wf.nodes['4'].inputs.seed = i; // a new noise: everything from the Sampler on runs again
      const marks: Record<string, number> = {};
      const before = await stats();
      const result = await engine.execute(wf, {
        onEvent: (e) => { if (e.type === 'executing') marks[e.data.node] = performance.now(); },
      });
      const end = performance.now();
      if (result.status !== 'success') throw new Error(`realsize ${v.res}: ${result.error?.exception_message}`);
      if (i === 0) continue; // sessions created, conditioning loaded
      const s = await stats();
      const decodeOrt = decoderMs(s) - decoderMs(before);
      const samplerOrt = s.runMs - before.runMs - decodeOrt;
      const sampler = marks['6'] - marks['5'];
      const rest = end - marks['6'];
      perStep.push((sampler - samplerOrt) / STEPS);
      after.push(rest - decodeOrt);
      ratios.push((sampler + rest) / (samplerOrt + decodeOrt));
    }
  } finally {
    await engine.close();
  }
  return [
    { metric: `${v.prefix}.outside_ort_ms_per_step`, value: round(median(perStep), 3), unit: 'ms', target: v.prefix === 'realsize' ? '<= 0.3' : undefined },
    { metric: `${v.prefix}.outside_ort_ms_decode_and_save`, value: round(median(after), 2), unit: 'ms', target: v.prefix === 'realsize' ? '<= 15' : undefined },
    { metric: `${v.prefix}.overhead_ratio`, value: round(median(ratios), 3), unit: 'ratio' },
  ];
}

/**
 * What crosses between host and device per step when the loop stays on the device: the same
 * workflow on webgpu (Mesa's lavapipe here: its times mean nothing), 4 and 8 steps up to the
 * latent, the difference divided by 4. The target is the timestep and the scalars alone.
 */
async function deviceTransfers(): Promise<Metric[]> {
  const modelDir = await tinyModels({ layout: 'optimum', shapes: 'real', fp16: true });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sanagraph-realsize-'));
  const wf = workflow(modelDir, await conditioning(tmp), 1024);
  wf.nodes['1'].inputs.device = 'webgpu';
  delete (wf.nodes as Record<string, unknown>)['6'];
  (wf.nodes as Record<string, unknown>)['7'] = { type: 'SaveLatent', inputs: { latent: ['5', 0], filename_prefix: 'realsize' } };
  const engine = engineThread(tmp);
  const moved = async (steps: number, seed: number) => {
    Object.assign(wf.nodes['5'].inputs, { steps });
    wf.nodes['4'].inputs.seed = seed;
    const before = (await engine.command<Stats>('runtimeStats')).transfers;
    const result = await engine.execute(wf);
    if (result.status !== 'success') throw new Error(`realsize on webgpu: ${result.error?.exception_message}`);
    const after = (await engine.command<Stats>('runtimeStats')).transfers;
    return { up: after.hostToDevice - before.hostToDevice, down: after.deviceToHost - before.deviceToHost };
  };
  try {
    await moved(4, 0); // sessions, graphs, the conditioning upload
    const [short, long] = [await moved(4, 1), await moved(8, 2)];
    return [
      { metric: 'realsize_webgpu.host_to_device_bytes_per_step', value: (long.up - short.up) / 4, unit: 'B' },
      { metric: 'realsize_webgpu.device_to_host_bytes_per_step', value: (long.down - short.down) / 4, unit: 'B', target: '0' },
      { metric: 'realsize_webgpu.bytes_per_run_outside_steps', value: 2 * short.up - long.up + short.down, unit: 'B' },
    ];
  } finally {
    await engine.close();
  }
}

export async function realsizeBench(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  for (const v of VARIANTS) metrics.push(...(await measure(v)));
  metrics.push(...(await deviceTransfers()));
  return metrics;
}
