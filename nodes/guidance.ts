import { defineNode, float, InputError, socket } from '../engine/index.ts';
import { float32, shapeText } from '../engine/tensor.ts';
import { add, elementwise, mul, sub } from '../engine/elementwise.ts';
import { LATENT } from './types.ts';

/**
 * Classifier-free guidance, as diffusers' SanaPipeline (in float32):
 *   v = v_uncond + scale · (v_cond − v_uncond)
 */
const guidanceKernel = elementwise({ name: 'Guidance', inputs: ['cond', 'uncond'], scalars: ['scale'] },
  ({ cond, uncond, scale }) => [add(uncond, mul(scale, sub(cond, uncond)))]);

export const Guidance = defineNode({
  type: 'Guidance',
  displayName: 'Classifier-free guidance',
  category: 'sana/sampling',
  description: 'Combines the conditional and unconditional velocities: uncond + scale · (cond − uncond).',
  inputs: {
    velocity_cond: socket(LATENT),
    velocity_uncond: socket(LATENT),
    scale: float({ default: 4.5, min: 0, max: 100, step: 0.1 }),
  },
  outputs: [{ name: 'velocity', type: LATENT }],
  run: ({ velocity_cond: c, velocity_uncond: u, scale }) => {
    if (shapeText(c.dims) !== shapeText(u.dims)) {
      throw new InputError('velocity_uncond', `has shape ${shapeText(u.dims)} but velocity_cond has ${shapeText(c.dims)}`);
    }
    return [float32(c.dims, guidanceKernel.run([c.data, u.data], [scale])[0])];
  },
});

export default [Guidance];
