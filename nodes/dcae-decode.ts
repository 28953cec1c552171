import { defineNode, InputError, socket, type Float32Tensor } from '../engine/index.ts';
import { float32, shapeText } from '../engine/tensor.ts';
import { add, channelsLast3, div, elementwise, mul, pmax, pmin } from '../engine/elementwise.ts';
import { recycle } from '../engine/scratch.ts';
import { DCAE, IMAGE, LATENT } from './types.ts';

/**
 * Decodes latents to images as diffusers does:
 *   image = vae.decode(latents / scaling_factor)          (SanaPipeline.__call__)
 *   image = (image * 0.5 + 0.5).clamp(0, 1)               (VaeImageProcessor.denormalize)
 * in float32, then laid out [B, H, W, 3] (ComfyUI's IMAGE layout). Both element-wise passes run as
 * WebAssembly SIMD kernels; the second moves the channels last in the same pass.
 */
const unscale = elementwise({ name: 'DCAEDecode unscale', inputs: ['latent'], scalars: ['scale'] }, ({ latent, scale }) => [div(latent, scale)]);
const denormalize = channelsLast3('DCAEDecode denormalize', (x) => pmin(pmax(add(mul(x, 0.5), 0.5), 0), 1));

/** Overwrites the decoder's output, which nothing else holds, with the image: no fresh memory (see channelsLast3). */
function denormalizeChannelsLastInPlace(image: Float32Tensor): Float32Tensor {
  const [b, c, h, w] = image.dims;
  const item = c * h * w;
  for (let n = 0; n < b; n++) {
    const planes = image.data.subarray(n * item, (n + 1) * item);
    denormalize.run(planes, planes);
  }
  return float32([b, h, w, c], image.data);
}

export const DCAEDecode = defineNode({
  type: 'DCAEDecode',
  displayName: 'DC-AE decode',
  category: 'sana/latent',
  description: 'Decodes latents into images with the pipeline\'s DC-AE decoder.',
  inputs: { vae: socket(DCAE), latent: socket(LATENT) },
  outputs: [{ name: 'image', type: IMAGE }],
  run: async ({ vae, latent }) => {
    if (latent.dims[1] !== vae.latentChannels) {
      throw new InputError('latent', `has ${latent.dims[1]} channels ${shapeText(latent.dims)} but the decoder of "${vae.pipeline}" expects ${vae.latentChannels}`);
    }
    const scaled = unscale.run([latent.data], [vae.scalingFactor])[0];
    let outputs;
    try {
      outputs = await vae.model.run({ [vae.io.latent]: float32(latent.dims, scaled) });
    } finally {
      recycle([scaled]); // only the model's input: back to the pool the Sampler's steps use
    }
    const image = outputs[vae.io.output] as Float32Tensor;
    const [, c, h, w] = image.dims;
    const f = vae.spatialCompression;
    if (c !== 3 || h !== latent.dims[2] * f || w !== latent.dims[3] * f) {
      throw new InputError('vae', `decoded a ${shapeText(image.dims)} image from a ${shapeText(latent.dims)} latent; expected 3 channels at ${f}× the latent size`);
    }
    return [denormalizeChannelsLastInPlace(image)];
  },
});

export default [DCAEDecode];
