import { InputError, type Float32Tensor, type NodeContext } from '../engine/index.ts';
import { addElementwise } from '../engine/onnx/elementwise-graph.ts';
import { GraphBuilder, type ElemType } from '../engine/onnx/graph-builder.ts';
import type { DeviceRunner } from '../engine/onnx/model-manager.ts';
import type { DeviceTensor, Feed } from '../engine/onnx/session-store.ts';
import { float32, shapeText, type DType, type Tensor } from '../engine/tensor.ts';
import { timestepTensor } from './dit-step.ts';
import { guidanceKernel } from './guidance.ts';
import { solverUpdate, type Schedule, type SchedulerName, type SolverUpdate } from './schedules.ts';
import { concatBatch, repeatConditioning } from './tensor-ops.ts';
import type { Conditioning, SanaModel } from './types.ts';

/**
 * The Sampler's loop with its tensors on the device (webgpu): the same computation as its
 * expansion into DiTStep → Guidance → SolverStep nodes, in the same order, without a copy between
 * host and device per step.
 *
 * - The text embeddings and mask are uploaded once (and kept while the same conditioning is
 *   sampled again), the latent once.
 * - Each step runs the transformer, then one small ONNX graph on the same device: the guidance
 *   and the scheduler's update, built from the very expressions the host kernels compile
 *   (Guidance's guidanceKernel, schedules.ts' solverUpdate, via onnx/elementwise-graph.ts), with
 *   the casts to and from the model's element type, and the next model input stacked [x; x].
 * - Per step only the timestep and the update's scalars go to the device (a few dozen bytes);
 *   the final latent is the only thing read back.
 *
 * Unlike the expansion, an interrupted or failed loop starts again from the first step.
 */
export interface DeviceSampling {
  model: SanaModel;
  runner: DeviceRunner;
  positive: Conditioning;
  negative?: Conditioning;
  /** How often each prompt is repeated for the latent batch (Sampler: conditioningRepeat). */
  repeat: { positive: number; negative: number };
  latent: Float32Tensor;
  schedule: Schedule;
  scheduler: SchedulerName;
  guidanceScale: number;
  ctx: NodeContext;
}

export async function sampleOnDevice(s: DeviceSampling): Promise<Float32Tensor> {
  const { model, runner, latent, schedule, scheduler, ctx } = s;
  const io = model.io;
  const type = (name: string, list = model.model.session.inputs): DType => (list.find((t) => t.name === name)?.type ?? 'float32') as DType;
  const types = {
    hidden: type(io.hidden), encoder: type(io.encoder), mask: type(io.mask), timestep: type(io.timestep),
    output: type(io.output, model.model.session.outputs),
  };
  const guided = s.negative !== undefined;
  const k = guided ? 2 : 1;
  const dims = latent.dims;
  const shape = `${k}:${dims.join('x')}:${types.hidden}:${types.output}`;

  const live = new Set<DeviceTensor>();
  const own = (t: DeviceTensor) => { live.add(t); return t; };
  const drop = (t: DeviceTensor | undefined) => { if (t && live.delete(t)) t.dispose(); };
  try {
    const { embeds, mask } = await conditioningOnDevice(runner, s.positive, s.negative, s.repeat, types);
    const prepare = await runner.graph(`sana-prepare:${shape}`, () => prepareGraph(dims, k, types.hidden));
    const first = await prepare({ x: latent });
    let x = own(first.x_out);
    let hidden = own(first.hidden);
    let x0: DeviceTensor | undefined;
    const { sigmas, timesteps } = schedule;
    for (let step = 0; step < timesteps.length; step++) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('interrupted');
      const t = timestepTensor(k * dims[0], Math.fround(timesteps[step] * model.timestepScale));
      const out = await runner.run({ [io.hidden]: hidden, [io.encoder]: embeds, [io.mask]: mask, [io.timestep]: t });
      const velocity = own(out[io.output]);
      for (const name in out) if (out[name] !== velocity) out[name].dispose(); // outputs it does not use
      const update = solverUpdate(scheduler, step, sigmas, x0 !== undefined);
      const stepGraph = await runner.graph(`sana-step:${shape}:${velocity.dims[1]}:${update.kernel.name}`, () => stepGraphBytes(update, dims, k, velocity.dims[1], types));
      const feeds: Record<string, Feed> = { velocity, x };
      if (guided) feeds.scale = scalar(s.guidanceScale);
      if (update.usesPrevX0) feeds.m1 = x0!;
      update.kernel.scalars.forEach((name, i) => { feeds[name] = scalar(update.scalars[i]); });
      const next = await stepGraph(feeds);
      drop(velocity);
      drop(hidden);
      drop(x);
      drop(x0);
      x = own(next.x_next);
      x0 = own(next.x0);
      hidden = own(next.hidden);
      ctx.progress(step + 1, timesteps.length);
    }
    const result = await runner.download(x);
    return float32(dims, result.data as Float32Array);
  } finally {
    for (const t of live) t.dispose();
  }
}

const scalar = (value: number): Tensor => float32([1], Float32Array.of(value));

/**
 * The conditioning as the transformer reads it ([negative; positive] when guided), on the device.
 * The last one uploaded is kept (one in all, so replaced runners leave nothing behind on the
 * device): the next image of the same prompt reuses it.
 */
let uploaded: { key: readonly unknown[]; embeds: DeviceTensor; mask: DeviceTensor } | undefined;

async function conditioningOnDevice(
  runner: DeviceRunner, positive: Conditioning, negative: Conditioning | undefined, repeat: { positive: number; negative: number }, types: { encoder: DType; mask: DType },
) {
  const key = [runner, positive.embeds, positive.mask, negative?.embeds, negative?.mask, repeat.positive, repeat.negative, types.encoder, types.mask];
  const kept = uploaded;
  if (kept && kept.key.every((v, i) => v === key[i]) && !kept.embeds.disposed && !kept.mask.disposed) return kept;
  if (kept) {
    kept.embeds.dispose();
    kept.mask.dispose();
    uploaded = undefined;
  }
  if (negative && negative.embeds.dims[1] !== positive.embeds.dims[1]) {
    throw new InputError('negative', `has ${negative.embeds.dims[1]} tokens ${shapeText(negative.embeds.dims)} but the positive has ${positive.embeds.dims[1]} (both are one batch for the model)`);
  }
  // [negative; positive], each prompt repeated for its latents: as the expansion's ConcatConditioning.
  const pos = repeatConditioning(positive, repeat.positive);
  const neg = negative && repeatConditioning(negative, repeat.negative);
  const stack = (p: Float32Tensor, n?: Float32Tensor) => (n ? concatBatch([n, p]) : p);
  const embeds = await runner.upload(stack(pos.embeds, neg?.embeds), types.encoder);
  const mask = await runner.upload(stack(pos.mask, neg?.mask), types.mask).catch((e: unknown) => { embeds.dispose(); throw e; });
  uploaded = { key, embeds, mask };
  return uploaded;
}

/** x (float32, host) → x on the device and the first model input: x stacked k times, in the model's type. */
function prepareGraph(dims: readonly number[], k: number, hiddenType: DType): Uint8Array {
  const g = new GraphBuilder({ seed: 0, name: 'sana_prepare' });
  g.input('x', 'float32', dims);
  g.output(g.op1('Identity', ['x']), 'x_out', 'float32', dims);
  g.output(modelInput(g, 'x', k, hiddenType), 'hidden', hiddenType as ElemType, [k * dims[0], ...dims.slice(1)]);
  return g.toBytes(); // outputs are named apart from the inputs: x → x_out
}

/**
 * One step after the transformer: velocity (the model's type, [k·B, C', h, w]; C' > C for a
 * learned-sigma model, cut to the first C) → float32 → guidance (k = 2: [uncond; cond], as
 * DiTStep stacks them) → the scheduler's update of x → next x, its x0 prediction, and the next
 * model input.
 */
function stepGraphBytes(update: SolverUpdate, dims: readonly number[], k: number, velocityChannels: number, types: { hidden: DType; output: DType }): Uint8Array {
  const g = new GraphBuilder({ seed: 0, name: 'sana_step' });
  const [b, c] = dims;
  g.input('velocity', types.output as ElemType, [k * b, velocityChannels, ...dims.slice(2)]);
  g.input('x', 'float32', dims);
  if (update.usesPrevX0) g.input('m1', 'float32', dims);
  if (k === 2) g.input('scale', 'float32', [1]);
  for (const name of update.kernel.scalars) g.input(name, 'float32', [1]);
  let v = types.output === 'float32' ? 'velocity' : g.cast('velocity', 'float32');
  const slice = (from: string, axis: number, start: number, end: number) =>
    g.op1('Slice', [from, g.constI64([start]), g.constI64([end]), g.constI64([axis])]);
  if (velocityChannels !== c) v = slice(v, 1, 0, c);
  if (k === 2) [v] = addElementwise(g, guidanceKernel, { uncond: slice(v, 0, 0, b), cond: slice(v, 0, b, 2 * b) }, { scale: 'scale' });
  const scalars = Object.fromEntries(update.kernel.scalars.map((n) => [n, n]));
  const outputs = addElementwise(g, update.kernel, { x: 'x', v, m1: 'm1' }, scalars);
  const prev = outputs[update.prev];
  g.output(prev, 'x_next', 'float32', dims);
  g.output(outputs[update.x0], 'x0', 'float32', dims);
  g.output(modelInput(g, prev, k, types.hidden), 'hidden', types.hidden as ElemType, [k * b, ...dims.slice(1)]);
  return g.toBytes();
}

/** The model input from x: `torch.cat([x] * k)` (as DiTStep repeats it), cast to the model's type. */
function modelInput(g: GraphBuilder, x: string, k: number, type: DType): string {
  const stacked = k === 1 ? x : g.op1('Concat', Array(k).fill(x), { axis: 0 });
  return type === 'float32' ? g.op1('Identity', [stacked]) : g.cast(stacked, type as ElemType);
}

