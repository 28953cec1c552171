import { defineNode, InputError, int, seed } from '../engine/index.ts';
import { float32 } from '../engine/tensor.ts';
import { randn } from '../engine/torch-random.ts';
import { LATENT } from './types.ts';

/**
 * Starting noise, equal to `torch.randn((batch, channels, height/32, width/32),
 * generator=torch.Generator().manual_seed(seed))` on the CPU in float32, which is what
 * diffusers' SanaPipeline.prepare_latents and ComfyUI draw: the same seed gives the same image.
 * Flow matching starts from pure noise (initial sigma 1), so no scaling follows.
 */
export const LatentInit = defineNode({
  type: 'LatentInit',
  displayName: 'Latent noise',
  category: 'sana/latent',
  description: 'Gaussian noise for the sampler to start from, reproducing torch\'s CPU generator for the seed.',
  inputs: {
    width: int({ default: 1024, min: 32, max: 16384, step: 32 }),
    height: int({ default: 1024, min: 32, max: 16384, step: 32 }),
    batch_size: int({ default: 1, min: 1, max: 64 }),
    seed: seed({ default: 0 }),
    channels: int({ default: 32, min: 1, max: 1024 }),
    spatial_compression: int({ default: 32, min: 1, max: 256 }),
  },
  outputs: [{ name: 'latent', type: LATENT }],
  run: ({ width, height, batch_size, seed: s, channels, spatial_compression: f }) => {
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (v % f !== 0) {
        const lower = Math.max(f, Math.floor(v / f) * f);
        throw new InputError(name, `${v} is not divisible by the spatial compression ${f}: use ${lower} or ${lower + f}`);
      }
    }
    const dims = [batch_size, channels, height / f, width / f];
    // Above 2^53 a JSON seed is already rounded (2^64 − 1 arrives as 2^64): wrap it into torch's 64 bits.
    return [float32(dims, randn(dims, Number.isSafeInteger(s) ? s : BigInt.asUintN(64, BigInt(s))))];
  },
});

export default [LatentInit];
