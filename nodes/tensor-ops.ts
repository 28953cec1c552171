import { float32, sameDims, shapeText, type Float32Tensor } from '../engine/tensor.ts';
import type { Conditioning } from './types.ts';

/** Small float32 tensor operations along the batch axis (axis 0), used by several node families. */

export function concatBatch(parts: readonly Float32Tensor[]): Float32Tensor {
  const rest = parts[0].dims.slice(1);
  for (const p of parts) {
    if (!sameDims(p.dims.slice(1), rest)) {
      throw new Error(`cannot stack tensors of shapes ${parts.map((t) => shapeText(t.dims)).join(' and ')} along the batch`);
    }
  }
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return float32([parts.reduce((n, p) => n + p.dims[0], 0), ...rest], data);
}

/** `torch.cat([t] * times)`, written into `data` (times × t's length). */
export function repeatBatchInto(t: Float32Tensor, times: number, data: Float32Array): Float32Tensor {
  for (let i = 0; i < times; i++) data.set(t.data, i * t.data.length);
  return float32([t.dims[0] * times, ...t.dims.slice(1)], data);
}

/** `t.chunk(parts)` along the batch, for a batch divisible by `parts`: views, no copies (tensors are never mutated). */
export function splitBatch(t: Float32Tensor, parts: number): Float32Tensor[] {
  const batch = t.dims[0];
  if (batch % parts !== 0) throw new Error(`a batch of ${batch} cannot be split into ${parts} equal parts`);
  const size = t.data.length / parts;
  return Array.from({ length: parts }, (_, i) => float32([batch / parts, ...t.dims.slice(1)], t.data.subarray(i * size, (i + 1) * size)));
}

/** Keeps the first `channels` channels of [B, C, h, w]. */
export function firstChannels(t: Float32Tensor, channels: number): Float32Tensor {
  const [b, c, h, w] = t.dims;
  if (c === channels) return t;
  const out = new Float32Array(b * channels * h * w);
  for (let i = 0; i < b; i++) out.set(t.data.subarray(i * c * h * w, (i * c + channels) * h * w), i * channels * h * w);
  return float32([b, channels, h, w], out);
}

/** Each of a conditioning's prompts repeated `times` times, in place (as diffusers' num_images_per_prompt). */
export function repeatConditioning(c: Conditioning, times: number): Conditioning {
  if (times === 1) return c;
  const each = (t: Float32Tensor) => {
    const [b, ...rest] = t.dims;
    const size = t.data.length / b;
    const out = new Float32Array(t.data.length * times);
    for (let i = 0; i < b; i++) for (let r = 0; r < times; r++) out.set(t.data.subarray(i * size, (i + 1) * size), (i * times + r) * size);
    return float32([b * times, ...rest], out);
  };
  return { embeds: each(c.embeds), mask: each(c.mask) };
}
