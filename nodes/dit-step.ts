import { defineNode, float, InputError, socket, type Float32Tensor } from '../engine/index.ts';
import { float32, shapeText } from '../engine/tensor.ts';
import { withScratch } from '../engine/scratch.ts';
import { firstChannels, repeatBatchInto } from './tensor-ops.ts';
import { CONDITIONING, LATENT, SANA_MODEL, type Conditioning, type SanaModel } from './types.ts';

/**
 * One transformer evaluation: the flow velocity at `timestep` (the scheduler's timestep; the
 * model receives timestep · timestep_scale, as in diffusers' SanaPipeline).
 *
 * When the conditioning's batch is k times the latent's (a negative and a positive prompt
 * stacked), the latent is repeated k times, as `torch.cat([latents] * 2)` in diffusers, so both
 * passes run as one batch. A model with twice the latent channels (learned sigma) gives the first half.
 */
export function checkLatent(model: SanaModel, latent: Float32Tensor, input = 'latent'): void {
  if (latent.dims[1] !== model.latentChannels) {
    throw new InputError(input, `has ${latent.dims[1]} channels ${shapeText(latent.dims)} but the model "${model.pipeline}" expects ${model.latentChannels}`);
  }
}

export function checkConditioning(model: SanaModel, cond: Conditioning, input = 'conditioning'): void {
  const width = cond.embeds.dims[2];
  if (model.captionChannels !== undefined && width !== model.captionChannels) {
    throw new InputError(input, `text embeddings are ${width} wide but the model "${model.pipeline}" expects ${model.captionChannels}: was it encoded with this pipeline's text encoder?`);
  }
}

/**
 * The timestep input, one tensor per (batch, value): a schedule's timesteps repeat run after
 * run, and a tensor seen before is passed to ONNX Runtime without being converted again.
 */
const timesteps = new Map<string, Float32Tensor>();
export function timestepTensor(batch: number, t: number): Float32Tensor {
  const key = `${batch}:${t}`;
  let tensor = timesteps.get(key);
  if (!tensor) {
    if (timesteps.size >= 4096) timesteps.clear();
    tensor = float32([batch], new Float32Array(batch).fill(t));
    timesteps.set(key, tensor);
  }
  return tensor;
}

export function evaluateModel(model: SanaModel, latent: Float32Tensor, cond: Conditioning, timestep: number): Promise<Float32Tensor> {
  const batch = cond.embeds.dims[0];
  if (batch % latent.dims[0] !== 0) {
    throw new InputError('conditioning', `batch ${batch} is not a multiple of the latent batch ${latent.dims[0]}`);
  }
  const times = batch / latent.dims[0];
  const t = Math.fround(timestep * model.timestepScale);
  // Promise chains rather than async functions: see ModelManager.run.
  const run = (hidden: Float32Tensor) => model.model.run({
    [model.io.hidden]: hidden,
    [model.io.encoder]: cond.embeds,
    [model.io.mask]: cond.mask,
    [model.io.timestep]: timestepTensor(batch, t),
  }).then((outputs) => firstChannels(outputs[model.io.output] as Float32Tensor, model.latentChannels));
  if (times === 1) return run(latent);
  // The repeated latent is only the model's input: a scratch array, not fresh memory every step.
  return withScratch(latent.data.length * times, (data) => run(repeatBatchInto(latent, times, data)));
}

export const DiTStep = defineNode({
  type: 'DiTStep',
  displayName: 'DiT step',
  category: 'sana/sampling',
  description: 'One evaluation of the Sana transformer: the flow velocity of a latent at a timestep.',
  inputs: {
    model: socket(SANA_MODEL),
    latent: socket(LATENT),
    conditioning: socket(CONDITIONING),
    timestep: float({ default: 999, min: 0, max: 100000, step: 1 }),
  },
  outputs: [{ name: 'velocity', type: LATENT }],
  run: ({ model, latent, conditioning, timestep }) => {
    checkLatent(model, latent);
    checkConditioning(model, conditioning);
    return evaluateModel(model, latent, conditioning, timestep).then((velocity): [Float32Tensor] => [velocity]);
  },
});

export default [DiTStep];
