import { defineNode, float, InputError, optional, socket } from '../engine/index.ts';
import { float32, sameDims, shapeText } from '../engine/tensor.ts';
import { add, elementwise, mul, sub } from '../engine/elementwise.ts';
import { splitBatch } from './tensor-ops.ts';
import { LATENT } from './types.ts';

/**
 * Classifier-free guidance, as diffusers' SanaPipeline (in float32):
 *   v = v_uncond + scale · (v_cond − v_uncond)
 * Without `velocity_uncond`, `velocity_cond` holds both passes stacked as DiTStep gives them for a
 * ConcatConditioning(negative, positive): [uncond; cond], split as diffusers' `noise_pred.chunk(2)`.
 * The Sampler links it that way, one node less per step than splitting the batch first.
 */
export const guidanceKernel = elementwise({ name: 'Guidance', inputs: ['cond', 'uncond'], scalars: ['scale'] },
  ({ cond, uncond, scale }) => [add(uncond, mul(scale, sub(cond, uncond)))]);

export const Guidance = defineNode({
  type: 'Guidance',
  displayName: 'Classifier-free guidance',
  category: 'sana/sampling',
  description: 'Combines the conditional and unconditional velocities: uncond + scale · (cond − uncond).',
  inputs: {
    velocity_cond: socket(LATENT, { tooltip: 'the conditional velocity; or, with velocity_uncond unconnected, both stacked [uncond; cond]' }),
    velocity_uncond: optional(socket(LATENT)),
    scale: float({ default: 4.5, min: 0, max: 100, step: 0.1 }),
  },
  outputs: [{ name: 'velocity', type: LATENT }],
  run: ({ velocity_cond, velocity_uncond, scale }) => {
    let [cond, uncond] = [velocity_cond, velocity_uncond];
    if (!uncond) {
      if (cond.dims[0] % 2 !== 0) {
        throw new InputError('velocity_uncond', `is not connected, so velocity_cond must stack the unconditional and conditional velocities (an even batch), but it has shape ${shapeText(cond.dims)}`);
      }
      [uncond, cond] = splitBatch(cond, 2); // views of the halves, as torch's chunk(2)
    } else if (!sameDims(cond.dims, uncond.dims)) {
      throw new InputError('velocity_uncond', `has shape ${shapeText(uncond.dims)} but velocity_cond has ${shapeText(cond.dims)}`);
    }
    return [float32(cond.dims, guidanceKernel.run([cond.data, uncond.data], [scale])[0])];
  },
});

export default [Guidance];
