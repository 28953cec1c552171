import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SCHEDULERS } from './schedules.ts';
import type { PipelineDefaults } from './types.ts';

/**
 * A model folder, in either of two layouts, read into one description.
 *
 * 1. Ours: `pipeline.json` (`sanagraph/pipeline@1`), see docs/models.md.
 * 2. What Hugging Face optimum writes (`optimum-cli export onnx --model Efficient-Large-Model/Sana_...
 *    --task default out/`): `model_index.json`; `transformer/`, `vae_decoder/`, `text_encoder/`,
 *    each a `model.onnx` (external data beside it) with diffusers' `config.json`;
 *    `scheduler/scheduler_config.json`; `tokenizer/tokenizer.json`.
 */
export interface PipelineSpec {
  name: string;
  dir: string;
  layout: 'sanagraph' | 'optimum';
  transformer: { onnx: string; latentChannels: number; timestepScale: number; captionChannels?: number };
  vae: { onnx: string; scalingFactor: number; spatialCompression: number; latentChannels: number };
  textEncoder: { onnx: string; tokenizer: string; maxSequenceLength: number; complexHumanInstruction: string[] | null } | null;
  defaults: PipelineDefaults;
}

export class PipelineFolderError extends Error {
  constructor(message: string) { super(message); this.name = 'PipelineFolderError'; }
}

/**
 * diffusers' default `complex_human_instruction` (SanaPipeline.__call__ in
 * pipelines/sana/pipeline_sana.py). It is part of what the text encoder sees, so it must match
 * the reference to the character (diffusers writes 'Enhanced prompt' in single quotes).
 */
export const DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION = [
  "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
  '- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.',
  '- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.',
  'Here are examples of how to transform or refine prompts:',
  '- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.',
  '- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.',
  'Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:',
  'User Prompt: ',
];

const DEFAULTS: PipelineDefaults = { scheduler: 'flow_dpmpp_2m', steps: 20, guidanceScale: 4.5, flowShift: 3.0, width: 1024, height: 1024 };

const positiveInt = z.number().int().positive();
const ManifestSchema = z.object({
  format: z.literal('sanagraph/pipeline@1'),
  name: z.string().min(1),
  transformer: z.object({ onnx: z.string().min(1), latentChannels: positiveInt, timestepScale: z.number().positive().default(1) }),
  vae: z.object({ onnx: z.string().min(1), scalingFactor: z.number().positive(), spatialCompression: positiveInt }),
  textEncoder: z.object({
    onnx: z.string().min(1),
    tokenizer: z.string().min(1),
    maxSequenceLength: positiveInt,
    complexHumanInstruction: z.array(z.string()).nullable().default(null),
  }).nullable(),
  defaults: z.object({
    scheduler: z.enum(SCHEDULERS), steps: positiveInt, guidanceScale: z.number(), flowShift: z.number().positive(),
    width: positiveInt, height: positiveInt,
  }).partial().default({}),
});
export type PipelineManifest = z.input<typeof ManifestSchema>;

/**
 * JSON as Python's `json` module writes it: it allows bare NaN, Infinity and -Infinity
 * (real Sana scheduler configs contain `-Infinity`), which JSON.parse rejects. They become null.
 */
export function parsePythonJson(text: string): unknown {
  return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : 'null')));
}

async function readJson(file: string, python = false): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new PipelineFolderError(`${file} is missing`);
  }
  try {
    return python ? parsePythonJson(text) : JSON.parse(text);
  } catch (e) {
    throw new PipelineFolderError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function requireFile(file: string, what: string): string {
  if (!existsSync(file)) throw new PipelineFolderError(`${what} ${file} is missing`);
  return file;
}

export async function readPipelineFolder(dir: string): Promise<PipelineSpec> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PipelineFolderError(`model folder ${dir} does not exist`);
  if (existsSync(path.join(dir, 'pipeline.json'))) return readOurs(dir);
  if (existsSync(path.join(dir, 'model_index.json'))) return readOptimum(dir);
  throw new PipelineFolderError(`${dir} has neither pipeline.json (a sanagraph model folder) nor model_index.json (a Hugging Face optimum export)`);
}

async function readOurs(dir: string): Promise<PipelineSpec> {
  const file = path.join(dir, 'pipeline.json');
  const parsed = ManifestSchema.safeParse(await readJson(file));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new PipelineFolderError(`${file} is malformed: ${issues}`);
  }
  const m = parsed.data;
  const at = (f: string) => path.resolve(dir, f);
  return {
    name: m.name, dir, layout: 'sanagraph',
    transformer: { onnx: requireFile(at(m.transformer.onnx), 'transformer model'), latentChannels: m.transformer.latentChannels, timestepScale: m.transformer.timestepScale },
    vae: { onnx: requireFile(at(m.vae.onnx), 'VAE decoder model'), scalingFactor: m.vae.scalingFactor, spatialCompression: m.vae.spatialCompression, latentChannels: m.transformer.latentChannels },
    textEncoder: m.textEncoder && {
      onnx: requireFile(at(m.textEncoder.onnx), 'text encoder model'),
      tokenizer: requireFile(at(m.textEncoder.tokenizer), 'tokenizer'),
      maxSequenceLength: m.textEncoder.maxSequenceLength,
      complexHumanInstruction: m.textEncoder.complexHumanInstruction,
    },
    defaults: { ...DEFAULTS, ...m.defaults },
  };
}

const num = (v: unknown, fallback?: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

async function readOptimum(dir: string): Promise<PipelineSpec> {
  const config = async (sub: string) => (await readJson(path.join(dir, sub), true)) as Record<string, unknown>;
  const transformer = await config('transformer/config.json');
  const vae = await config(existsSync(path.join(dir, 'vae_decoder/config.json')) ? 'vae_decoder/config.json' : 'vae/config.json');
  const scheduler = existsSync(path.join(dir, 'scheduler/scheduler_config.json')) ? await config('scheduler/scheduler_config.json') : {};

  const latentChannels = num(transformer.in_channels) ?? num(vae.latent_channels);
  if (!latentChannels) throw new PipelineFolderError(`${dir}/transformer/config.json has no in_channels`);
  const blocks = (vae.decoder_block_out_channels ?? vae.encoder_block_out_channels) as unknown[] | undefined;
  if (!Array.isArray(blocks) || blocks.length === 0) throw new PipelineFolderError(`${dir}: the VAE config has no decoder_block_out_channels, so its compression is unknown`);
  const spatialCompression = 2 ** (blocks.length - 1); // DC-AE halves the size once per block after the first
  const scalingFactor = num(vae.scaling_factor);
  if (!scalingFactor) throw new PipelineFolderError(`${dir}: the VAE config has no scaling_factor`);
  const sampleSize = num(transformer.sample_size, 32)!;
  const euler = String(scheduler._class_name ?? '').startsWith('FlowMatchEuler');
  const flowShift = num(euler ? scheduler.shift : scheduler.flow_shift, 3.0)!;
  const hasTextEncoder = existsSync(path.join(dir, 'text_encoder/model.onnx'));
  return {
    name: path.basename(dir), dir, layout: 'optimum',
    transformer: {
      onnx: requireFile(path.join(dir, 'transformer/model.onnx'), 'transformer model'),
      latentChannels, timestepScale: num(transformer.timestep_scale, 1)!, captionChannels: num(transformer.caption_channels),
    },
    vae: { onnx: requireFile(path.join(dir, 'vae_decoder/model.onnx'), 'VAE decoder model'), scalingFactor, spatialCompression, latentChannels: num(vae.latent_channels, latentChannels)! },
    textEncoder: hasTextEncoder ? {
      onnx: path.join(dir, 'text_encoder/model.onnx'),
      tokenizer: requireFile(path.join(dir, 'tokenizer/tokenizer.json'), 'tokenizer'),
      maxSequenceLength: 300, // SanaPipeline's max_sequence_length default
      complexHumanInstruction: DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION,
    } : null,
    defaults: { ...DEFAULTS, scheduler: euler ? 'flow_euler' : 'flow_dpmpp_2m', flowShift, width: sampleSize * spatialCompression, height: sampleSize * spatialCompression },
  };
}
