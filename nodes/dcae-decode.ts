import { defineNode, InputError, socket, type Float32Tensor } from '../engine/index.ts';
import { float32, shapeText } from '../engine/tensor.ts';
import { DCAE, IMAGE, LATENT } from './types.ts';

const f32 = Math.fround;

/**
 * Decodes latents to images as diffusers does:
 *   image = vae.decode(latents / scaling_factor)          (SanaPipeline.__call__)
 *   image = (image * 0.5 + 0.5).clamp(0, 1)               (VaeImageProcessor.denormalize)
 * in float32, then laid out [B, H, W, 3] (ComfyUI's IMAGE layout).
 */
/** (x * 0.5 + 0.5).clamp(0, 1), moved from [B, 3, H, W] to [B, H, W, 3] in the same pass. */
function denormalizeChannelsLast(image: Float32Tensor): Float32Tensor {
  const [b, c, h, w] = image.dims;
  const plane = h * w;
  const src = image.data;
  const out = new Float32Array(src.length);
  // Output order, so writes are sequential; the channel planes are read side by side.
  for (let n = 0, o = 0; n < b; n++) {
    const base = n * c * plane;
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < c; ch++, o++) {
        // x·0.5 is exact and x·0.5 + 0.5 rounds once when stored: the float32 result without fround.
        const v = src[base + ch * plane + p] * 0.5 + 0.5;
        out[o] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return float32([b, h, w, c], out);
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
    const scale = f32(vae.scalingFactor);
    const scaled = new Float32Array(latent.data.length);
    for (let i = 0; i < scaled.length; i++) scaled[i] = latent.data[i] / scale;
    const outputs = await vae.model.run({ [vae.io.latent]: float32(latent.dims, scaled) });
    const image = outputs[vae.io.output] as Float32Tensor;
    const [, c, h, w] = image.dims;
    const f = vae.spatialCompression;
    if (c !== 3 || h !== latent.dims[2] * f || w !== latent.dims[3] * f) {
      throw new InputError('vae', `decoded a ${shapeText(image.dims)} image from a ${shapeText(latent.dims)} latent; expected 3 channels at ${f}× the latent size`);
    }
    return [denormalizeChannelsLast(image)];
  },
});

export default [DCAEDecode];
