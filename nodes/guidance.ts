import { defineNode, float, InputError, socket } from '../engine/index.ts';
import { float32, shapeText } from '../engine/tensor.ts';
import { LATENT } from './types.ts';

const f32 = Math.fround;

/**
 * Classifier-free guidance, as diffusers' SanaPipeline (in float32):
 *   v = v_uncond + scale · (v_cond − v_uncond)
 */
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
    const s = f32(scale);
    const out = new Float32Array(c.data.length);
    for (let i = 0; i < out.length; i++) out[i] = u.data[i] + f32(s * f32(c.data[i] - u.data[i]));
    return [float32(c.dims, out)];
  },
});

export default [Guidance];
