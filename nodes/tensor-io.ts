import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { defineNode, InputError, socket, string, type Tensor } from '../engine/index.ts';
import { asFloat32, float32, sameDims, shapeText, type Float32Tensor } from '../engine/tensor.ts';
import { readTensorFile, writeSafetensors } from '../engine/tensor-files.ts';
import { resolveUserPath, type NodeServices } from './services.ts';
import { CONDITIONING, LATENT, type Conditioning } from './types.ts';

/** Latents and embeddings in files: .safetensors (by key) and .npy. */

function resolveInput(services: NodeServices, file: string): string {
  const full = resolveUserPath(services, services.inputDir, file, 'path');
  if (!existsSync(full)) throw new InputError('path', `${full} does not exist`);
  return full;
}

function stamp(services: NodeServices, file: string | undefined): string {
  if (!file) return '';
  const full = path.resolve(services.inputDir, file);
  return existsSync(full) ? `${statSync(full).size}:${statSync(full).mtimeMs}` : 'missing';
}

async function pick(services: NodeServices, file: string, key: string, keyInput: string, required: boolean): Promise<Tensor | undefined> {
  const full = resolveInput(services, file);
  let tensors: Awaited<ReturnType<typeof readTensorFile>>;
  try {
    tensors = await readTensorFile(full);
  } catch (e) {
    throw new InputError('path', (e as Error).message);
  }
  if (tensors.format === 'npy') return tensors.get('');
  const t = tensors.get(key);
  if (!t && required) {
    throw new InputError(keyInput, `${full} has no tensor "${key}" (it has: ${[...tensors.keys()].join(', ') || 'none'})`);
  }
  return t;
}

export function tensorIoNodes(services: NodeServices) {
  const LoadLatent = defineNode({
    type: 'LoadLatent',
    category: 'sana/latent',
    description: 'Loads a latent [batch, channels, h, w] from a .safetensors (by key) or .npy file.',
    inputs: { path: string({ default: 'latent.safetensors' }), key: string({ default: 'latent' }) },
    outputs: [{ name: 'latent', type: LATENT }],
    isChanged: ({ path: p }) => stamp(services, p),
    run: async ({ path: p, key }) => {
      const t = asFloat32((await pick(services, p, key, 'key', true))!);
      if (t.dims.length !== 4) throw new InputError('path', `the latent in ${p} has shape ${shapeText(t.dims)}; expected [batch, channels, height, width]`);
      return [t];
    },
  });

  const LoadConditioning = defineNode({
    type: 'LoadConditioning',
    category: 'sana/conditioning',
    description: 'Loads text embeddings [batch, tokens, width] (and optionally their mask [batch, tokens]; default all ones) from a .safetensors file.',
    inputs: {
      path: string({ default: 'conditioning.safetensors' }),
      embeds_key: string({ default: 'prompt_embeds' }),
      mask_key: string({ default: 'prompt_mask' }),
    },
    outputs: [{ name: 'conditioning', type: CONDITIONING }],
    isChanged: ({ path: p }) => stamp(services, p),
    run: async ({ path: p, embeds_key, mask_key }) => {
      let embeds = asFloat32((await pick(services, p, embeds_key, 'embeds_key', true))!);
      if (embeds.dims.length === 2) embeds = float32([1, ...embeds.dims], embeds.data);
      if (embeds.dims.length !== 3) throw new InputError('embeds_key', `"${embeds_key}" has shape ${shapeText(embeds.dims)}; expected [batch, tokens, width]`);
      const [batch, tokens] = embeds.dims;
      const found = await pick(services, p, mask_key, 'mask_key', false);
      let mask: Float32Tensor = found ? asFloat32(found) : float32([batch, tokens], new Float32Array(batch * tokens).fill(1));
      if (mask.dims.length === 1) mask = float32([1, mask.dims[0]], mask.data);
      if (!sameDims(mask.dims, [batch, tokens])) {
        throw new InputError('mask_key', `"${mask_key}" has shape ${shapeText(mask.dims)} but the embeddings need [${batch}, ${tokens}]`);
      }
      const out: Conditioning = { embeds, mask };
      return [out];
    },
  });

  const SaveLatent = defineNode({
    type: 'SaveLatent',
    category: 'sana/latent',
    description: 'Saves a latent as <prefix>_00001.safetensors (float32, key "latent").',
    output: true,
    inputs: { latent: socket(LATENT), filename_prefix: string({ default: 'latent' }) },
    outputs: [],
    run: async ({ latent, filename_prefix }, ctx) => {
      const file = ctx.reserveFile(filename_prefix, 'safetensors');
      await writeSafetensors(file.path, { latent }, { format: 'pt', producer: 'sanagraph' });
      return { ui: { latents: [{ filename: file.filename, subfolder: file.subfolder, type: file.type }] } };
    },
  });

  return [LoadLatent, LoadConditioning, SaveLatent];
}
