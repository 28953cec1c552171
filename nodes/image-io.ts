import { writeFile } from 'node:fs/promises';
import { defineNode, socket, string, toComfyApi, type Float32Tensor, type NodeContext, type Workflow } from '../engine/index.ts';
import { floatsToBytes } from '../engine/tensor.ts';
import { encodePng } from './png.ts';
import { IMAGE } from './types.ts';

/**
 * 8-bit as diffusers' `numpy_to_pil`: `(images * 255).round().astype("uint8")` on [0, 1] floats
 * (numpy rounds halves to even, in float32), clamped to [0, 255] as ComfyUI's SaveImage clips
 * (a value outside [0, 1] saturates instead of wrapping around).
 */
export function toBytes(image: Float32Tensor, index: number): Uint8Array {
  const [, h, w, c] = image.dims;
  const size = h * w * c;
  return floatsToBytes(image.data.subarray(index * size, (index + 1) * size), 255, new Uint8Array(size));
}

/** PNG text chunks: the workflow (ours) and the same graph in ComfyUI's API format (`prompt`), as ComfyUI embeds them. */
function metadata(workflow: unknown): Record<string, string> {
  const wf = workflow as Workflow;
  return { workflow: JSON.stringify(wf), prompt: JSON.stringify(toComfyApi(wf)) };
}

/** zlib levels as ComfyUI's (4 for saved images, 1 for previews); with the encoder's run-length strategy they differ little. */
const PNG_LEVEL = { output: 4, temp: 1 } as const;

async function savePngs(images: Float32Tensor, prefix: string, ctx: NodeContext, where: 'output' | 'temp') {
  const [batch, height, width] = images.dims;
  const text = metadata(ctx.workflow);
  const saved = [];
  for (let i = 0; i < batch; i++) {
    const file = ctx.reserveFile(prefix, 'png', where);
    await writeFile(file.path, await encodePng({ width, height, data: toBytes(images, i), channels: 3, text }, PNG_LEVEL[where]));
    saved.push({ filename: file.filename, subfolder: file.subfolder, type: file.type });
  }
  return { ui: { images: saved } };
}

export const SaveImage = defineNode({
  type: 'SaveImage',
  displayName: 'Save image',
  category: 'image',
  description: 'Saves images as PNG files <prefix>_00001.png, ... with the workflow embedded (drop one on the editor to get it back).',
  output: true,
  inputs: { images: socket(IMAGE), filename_prefix: string({ default: 'sanagraph' }) },
  outputs: [],
  run: ({ images, filename_prefix }, ctx) => savePngs(images, filename_prefix, ctx, 'output'),
});

export const PreviewImage = defineNode({
  type: 'PreviewImage',
  displayName: 'Preview image',
  category: 'image',
  description: 'Shows images without keeping them (written to the temporary folder).',
  output: true,
  inputs: { images: socket(IMAGE) },
  outputs: [],
  run: ({ images }, ctx) => savePngs(images, 'preview', ctx, 'temp'),
});

export default [SaveImage, PreviewImage];
