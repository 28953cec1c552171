import { z } from 'zod';
import { defineDataType } from '../engine/data-types.ts';
import type { DeviceRunner, LoadedModel } from '../engine/onnx/model-manager.ts';
import type { Device } from '../engine/onnx/providers.ts';
import type { Float32Tensor, Tensor } from '../engine/tensor.ts';
import type { TextTokenizer } from './tokenizer.ts';

/**
 * The data types that flow between the Sana nodes.
 *
 * LATENT       float32 [B, C, h, w] (C = 32 latent channels for Sana, h = H / 32)
 * CONDITIONING text embeddings float32 [B, L, D] and their attention mask float32 [B, L] (1 = token, 0 = padding)
 * IMAGE        float32 [B, H, W, 3] in [0, 1] (ComfyUI's layout), decoded and denormalised as diffusers does
 * SANA_MODEL, TEXT_ENCODER, DCAE: handles to loaded ONNX sessions plus their configuration
 */

const isFloatTensor = (rank: number) => (v: unknown): v is Float32Tensor => {
  const t = v as Tensor | null;
  return typeof t === 'object' && t !== null && t.data instanceof Float32Array && Array.isArray(t.dims) && t.dims.length === rank;
};

const isRank2 = isFloatTensor(2);
const isRank3 = isFloatTensor(3);
const isRank4 = isFloatTensor(4);
const isConditioning = (v: unknown): v is Conditioning => isRank3((v as Conditioning)?.embeds) && isRank2((v as Conditioning)?.mask);
const isImage = (v: unknown): v is Float32Tensor => isRank4(v) && v.dims[3] === 3;

export const LATENT = defineDataType<Float32Tensor>({
  name: 'LATENT',
  description: 'latents, float32 [batch, channels, height/32, width/32]',
  is: isRank4,
  validate: z.custom<Float32Tensor>(isRank4, 'a float32 tensor [batch, channels, height, width]'),
  byteSize: (t) => t.data.byteLength,
});

export interface Conditioning {
  /** float32 [B, L, D] */
  readonly embeds: Float32Tensor;
  /** float32 [B, L]: 1 for real tokens, 0 for padding */
  readonly mask: Float32Tensor;
}

export const CONDITIONING = defineDataType<Conditioning>({
  name: 'CONDITIONING',
  description: 'text embeddings [batch, tokens, width] with their attention mask [batch, tokens]',
  is: isConditioning,
  validate: z.custom<Conditioning>(isConditioning, 'text embeddings with an attention mask'),
  byteSize: (c) => c.embeds.data.byteLength + c.mask.data.byteLength,
});

export const IMAGE = defineDataType<Float32Tensor>({
  name: 'IMAGE',
  description: 'images, float32 [batch, height, width, 3] in [0, 1]',
  is: isImage,
  validate: z.custom<Float32Tensor>(isImage, 'a float32 tensor [batch, height, width, 3]'),
  byteSize: (t) => t.data.byteLength,
});

/** A model file loaded on a device; `run` reloads it if the model manager unloaded it meanwhile. */
export interface ModelHandle {
  readonly path: string;
  readonly device: Device;
  /** The session as first loaded (its input/output names and types). */
  readonly session: LoadedModel;
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Calls whose tensors stay on the device, where the session can (the Sampler's loop on webgpu). */
  readonly resident?: DeviceRunner;
}

export interface SanaModel {
  readonly pipeline: string;
  readonly model: ModelHandle;
  readonly latentChannels: number;
  /** The model receives `timestep · timestepScale` (diffusers: transformer.config.timestep_scale). */
  readonly timestepScale: number;
  /** Width of the text embeddings it expects, when the model declares it. */
  readonly captionChannels?: number;
  /** Input and output names (ours and Hugging Face optimum's exports differ). */
  readonly io: { hidden: string; encoder: string; mask: string; timestep: string; output: string };
  /** The pipeline's defaults, for the Sampler. */
  readonly defaults: PipelineDefaults;
}

export interface PipelineDefaults {
  scheduler: string;
  steps: number;
  guidanceScale: number;
  flowShift: number;
  width: number;
  height: number;
}

export interface TextEncoderModel {
  readonly pipeline: string;
  /** Absent when the pipeline ships no text encoder (use LoadConditioning instead). */
  readonly model?: ModelHandle;
  readonly tokenizer?: TextTokenizer;
  readonly maxSequenceLength: number;
  readonly complexHumanInstruction: readonly string[] | null;
  readonly io: { ids: string; mask: string; output: string };
}

export interface DcaeModel {
  readonly pipeline: string;
  readonly model: ModelHandle;
  readonly scalingFactor: number;
  readonly spatialCompression: number;
  readonly latentChannels: number;
  readonly io: { latent: string; output: string };
}

const handle = (what: string) => z.custom((v) => typeof v === 'object' && v !== null && 'pipeline' in v, what);

export const SANA_MODEL = defineDataType<SanaModel>({ name: 'SANA_MODEL', description: 'a loaded Sana transformer', validate: handle('a Sana transformer from LoadPipeline') as z.ZodType<SanaModel>, byteSize: () => 256 });
export const TEXT_ENCODER = defineDataType<TextEncoderModel>({ name: 'TEXT_ENCODER', description: 'a loaded text encoder and its tokenizer', validate: handle('a text encoder from LoadPipeline') as z.ZodType<TextEncoderModel>, byteSize: () => 256 });
export const DCAE = defineDataType<DcaeModel>({ name: 'DCAE', description: 'a loaded DC-AE decoder', validate: handle('a DC-AE decoder from LoadPipeline') as z.ZodType<DcaeModel>, byteSize: () => 256 });
