/**
 * Writes a complete tiny random-weight Sana model folder, deterministic from a seed, in one of
 * two layouts:
 *
 * - `sanagraph`: our own `pipeline.json` + transformer.onnx, vae_decoder.onnx, text_encoder.onnx,
 *   tokenizer.json (+ tokenizer_config.json, which @huggingface/tokenizers needs for `<unk>`).
 *
 * - `optimum`: what `optimum-cli export onnx --model Efficient-Large-Model/Sana_600M_512px_diffusers
 *   --task default out/` writes (huggingface/optimum-onnx, read for facts):
 *     optimum/exporters/onnx/utils.py  get_sana_models_for_export → submodels text_encoder
 *       (model_type "gemma2-text-encoder"), transformer ("sana-transformer"), vae_encoder
 *       ("dcae-encoder"), vae_decoder ("dcae-decoder");
 *     optimum/exporters/onnx/convert.py  each submodel → `<name>/model.onnx` + `<name>/config.json`
 *       (save_config / config.save_pretrained), `scheduler/` (scheduler.save_pretrained),
 *       `tokenizer/` (tokenizer.save_pretrained), `model_index.json` (pipeline.save_config);
 *     optimum/exporters/onnx/model_configs.py  I/O names and dynamic axes (see sana-tiny.ts);
 *     optimum/utils/input_generators.py (huggingface/optimum)  encoder_attention_mask is generated
 *       with int_dtype (int64), timestep as float [batch].
 *   Config keys mirror diffusers' SanaTransformer2DModel / AutoencoderDC / DPMSolverMultistepScheduler
 *   __init__ signatures and scripts/convert_sana_to_diffusers.py, and transformers' Gemma2Config;
 *   diffusers/transformers write them with json.dumps(indent=2, sort_keys=True), so floats look like
 *   `3.0`/`1e-06` and DPMSolverMultistepScheduler's default `lambda_min_clipped` is `-Infinity`.
 *
 * CLI: node --import tsx tools/make-tiny-models.ts <outDir> [--layout sanagraph|optimum]
 *        [--seed N] [--fp16] [--no-text-encoder] [--mask int64|float]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  buildTextEncoder, buildTokenizerJson, buildTransformer, buildVaeDecoder, buildVaeEncoderStub,
  REALSIZE_TRANSFORMER, REALSIZE_VAE, SPECIAL_TOKENS, TINY_COMPLEX_HUMAN_INSTRUCTION, TINY_TEXT_ENCODER, TINY_TRANSFORMER, TINY_VAE,
  tinyTextEncoderVocabSize, type Layout, type MaskDType, type TransformerConfig, type VaeConfig,
} from './onnx/sana-tiny.ts';

export interface TinyModelOptions {
  layout: Layout;
  seed?: number;
  /** Make the transformer float16 (inputs, weights, output); the other models stay fp32. */
  fp16?: boolean;
  /** Include the text encoder and tokenizer (default true). */
  textEncoder?: boolean;
  /** Dtype of the transformer's encoder_attention_mask: optimum → 'int64', sanagraph → 'float'. */
  maskDtype?: MaskDType;
  /**
   * `real`: Sana-1600M's model inputs and outputs with a cheap body (REALSIZE_TRANSFORMER,
   * REALSIZE_VAE), for benchmarks at the real shapes; with `fp16` the decoder is fp16 too, as in
   * an fp16 optimum export. No text encoder: the conditioning comes from a file.
   */
  shapes?: 'tiny' | 'real';
}

export interface TinyModelSummary {
  outDir: string;
  layout: Layout;
  /** Relative path → size in bytes, in write order. */
  files: Record<string, number>;
}

export const DEFAULT_SEED = 42;
const MAX_SEQUENCE_LENGTH = 16;
const SCALING_FACTOR = 0.41407;
const DIFFUSERS_VERSION = '0.36.0';

/** Different streams per model, so that no two models share weights. */
const subSeed = (seed: number, k: number) => (seed + k * 1_000_003) >>> 0;

export async function makeTinyModels(outDir: string, opts: TinyModelOptions): Promise<TinyModelSummary> {
  const seed = opts.seed ?? DEFAULT_SEED;
  const real = opts.shapes === 'real';
  const withText = !real && (opts.textEncoder ?? true);
  const dit = real ? REALSIZE_TRANSFORMER : TINY_TRANSFORMER;
  const dcae = real ? REALSIZE_VAE : TINY_VAE;
  const files: Record<string, number> = {};
  const put = async (rel: string, data: Uint8Array | string) => {
    const file = path.join(outDir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    files[rel] = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  };

  const layout = opts.layout;
  const models = {
    transformer: buildTransformer({ seed: subSeed(seed, 0), layout, dtype: opts.fp16 ? 'float16' : 'float32', maskDtype: opts.maskDtype, config: dit }),
    vae: buildVaeDecoder({ seed: subSeed(seed, 1), layout, dtype: real && opts.fp16 ? 'float16' : 'float32', config: dcae }),
    text: withText ? buildTextEncoder({ seed: subSeed(seed, 2), layout, vocabSize: tinyTextEncoderVocabSize() }) : null,
  };
  const tokenizerJson = JSON.stringify(buildTokenizerJson(), null, 2) + '\n';
  const tokenizerConfig = pyJson(tokenizerConfigJson()) + '\n';

  if (layout === 'sanagraph') {
    await put('pipeline.json', JSON.stringify(pipelineJson(withText, dit), null, 2) + '\n');
    await put('transformer.onnx', models.transformer);
    await put('vae_decoder.onnx', models.vae);
    if (models.text) {
      await put('text_encoder.onnx', models.text);
      await put('tokenizer.json', tokenizerJson);
      await put('tokenizer_config.json', tokenizerConfig);
    }
  } else {
    await put('model_index.json', pyJson(modelIndexJson(withText)) + '\n');
    await put('scheduler/scheduler_config.json', pyJson(schedulerConfigJson()) + '\n');
    if (models.text) {
      await put('text_encoder/config.json', pyJson(gemma2ConfigJson()) + '\n');
      await put('text_encoder/model.onnx', models.text);
      await put('tokenizer/special_tokens_map.json', pyJson(specialTokensMapJson()) + '\n');
      await put('tokenizer/tokenizer.json', tokenizerJson);
      await put('tokenizer/tokenizer_config.json', tokenizerConfig);
    }
    await put('transformer/config.json', pyJson(transformerConfigJson(dit, real ? 32 : 4)) + '\n');
    await put('transformer/model.onnx', models.transformer);
    await put('vae_decoder/config.json', pyJson(vaeConfigJson(dcae)) + '\n');
    await put('vae_decoder/model.onnx', models.vae);
    await put('vae_encoder/config.json', pyJson(vaeConfigJson(dcae)) + '\n');
    await put('vae_encoder/model.onnx', buildVaeEncoderStub({ seed: subSeed(seed, 3) }));
  }
  return { outDir, layout, files };
}

// ---------------------------------------------------------------------------------------------
// sanagraph layout

function pipelineJson(withText: boolean, dit: TransformerConfig): Record<string, unknown> {
  return {
    format: 'sanagraph/pipeline@1',
    name: 'tiny-random',
    transformer: { onnx: 'transformer.onnx', latentChannels: dit.inChannels, timestepScale: 1.0 },
    vae: { onnx: 'vae_decoder.onnx', scalingFactor: SCALING_FACTOR, spatialCompression: 32 },
    textEncoder: withText
      ? {
        onnx: 'text_encoder.onnx',
        tokenizer: 'tokenizer.json',
        maxSequenceLength: MAX_SEQUENCE_LENGTH,
        complexHumanInstruction: [...TINY_COMPLEX_HUMAN_INSTRUCTION],
      }
      : null,
    defaults: { scheduler: 'flow_dpmpp_2m', steps: 20, guidanceScale: 4.5, flowShift: 3.0, width: 128, height: 128 },
  };
}

// ---------------------------------------------------------------------------------------------
// optimum layout: diffusers / transformers config files

function modelIndexJson(withText: boolean): PyObject {
  // A pipeline without a component records it as [null, null].
  const lib = (l: string, cls: string) => (withText ? [l, cls] : [null, null]);
  return {
    _class_name: 'SanaPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    _name_or_path: 'tiny-random-sana',
    scheduler: ['diffusers', 'DPMSolverMultistepScheduler'],
    text_encoder: lib('transformers', 'Gemma2Model'),
    tokenizer: lib('transformers', 'GemmaTokenizerFast'),
    transformer: ['diffusers', 'SanaTransformer2DModel'],
    vae: ['diffusers', 'AutoencoderDC'],
  };
}

/** DPMSolverMultistepScheduler(flow_shift=3.0, use_flow_sigmas=True, prediction_type="flow_prediction"). */
function schedulerConfigJson(): PyObject {
  return {
    _class_name: 'DPMSolverMultistepScheduler',
    _diffusers_version: DIFFUSERS_VERSION,
    algorithm_type: 'dpmsolver++',
    beta_end: 0.02,
    beta_schedule: 'linear',
    beta_start: 0.0001,
    dynamic_thresholding_ratio: 0.995,
    euler_at_final: false,
    final_sigmas_type: 'zero',
    flow_shift: pyFloat(3),
    lambda_min_clipped: -Infinity,
    lower_order_final: true,
    num_train_timesteps: 1000,
    prediction_type: 'flow_prediction',
    rescale_betas_zero_snr: false,
    sample_max_value: pyFloat(1),
    solver_order: 2,
    solver_type: 'midpoint',
    steps_offset: 0,
    thresholding: false,
    time_shift_type: 'exponential',
    timestep_spacing: 'linspace',
    trained_betas: null,
    use_beta_sigmas: false,
    use_dynamic_shifting: false,
    use_exponential_sigmas: false,
    use_flow_sigmas: true,
    use_karras_sigmas: false,
    use_lu_lambdas: false,
    variance_type: null,
  };
}

/** SanaTransformer2DModel config; sample_size = image size / 32 (Sana_600M_512px: 16; ours 128 px → 4). */
function transformerConfigJson(c: TransformerConfig, sampleSize: number): PyObject {
  return {
    _class_name: 'SanaTransformer2DModel',
    _diffusers_version: DIFFUSERS_VERSION,
    _name_or_path: 'tiny-random-sana/transformer',
    attention_bias: false,
    attention_head_dim: c.attentionHeadDim,
    caption_channels: c.captionChannels,
    cross_attention_dim: c.numAttentionHeads * c.attentionHeadDim,
    cross_attention_head_dim: c.crossAttentionHeadDim,
    dropout: pyFloat(0),
    guidance_embeds: false,
    guidance_embeds_scale: 0.1,
    in_channels: c.inChannels,
    interpolation_scale: null,
    mlp_ratio: c.mlpRatio,
    norm_elementwise_affine: false,
    norm_eps: c.normEps,
    num_attention_heads: c.numAttentionHeads,
    num_cross_attention_heads: c.numCrossAttentionHeads,
    num_layers: c.numLayers,
    out_channels: c.outChannels,
    patch_size: 1,
    qk_norm: null,
    sample_size: sampleSize,
    timestep_scale: pyFloat(1),
  };
}

/**
 * AutoencoderDC config (shared by vae_encoder/ and vae_decoder/, as optimum deep-copies the
 * same VAE). Block lists run from full resolution to the latent; their length − 1 = log2(32).
 */
function vaeConfigJson(vae: VaeConfig): PyObject {
  const widths = [...vae.widths].reverse();
  const n = widths.length;
  const empty = () => Array.from({ length: n }, () => [] as number[]);
  return {
    _class_name: 'AutoencoderDC',
    _diffusers_version: DIFFUSERS_VERSION,
    _name_or_path: 'tiny-random-sana/vae',
    attention_head_dim: 32,
    decoder_act_fns: 'silu',
    decoder_block_out_channels: widths,
    decoder_block_types: Array(n).fill('ResBlock'),
    decoder_conv_act_fn: 'relu',
    decoder_in_shortcut: false,
    decoder_layers_per_block: [0, ...Array(n - 1).fill(1)],
    decoder_norm_types: 'rms_norm',
    decoder_qkv_multiscales: empty(),
    downsample_block_type: 'Conv',
    encoder_block_out_channels: widths,
    encoder_block_types: Array(n).fill('ResBlock'),
    encoder_layers_per_block: Array(n).fill(0),
    encoder_out_shortcut: false,
    encoder_qkv_multiscales: empty(),
    in_channels: 3,
    latent_channels: vae.latentChannels,
    scaling_factor: SCALING_FACTOR,
    upsample_block_type: 'pixel_shuffle',
  };
}

/** transformers Gemma2Config (Sana ships Gemma2Model from gemma-2-2b-it). No RoPE in the tiny graph. */
function gemma2ConfigJson(): PyObject {
  const c = TINY_TEXT_ENCODER;
  return {
    _name_or_path: 'tiny-random-sana/text_encoder',
    architectures: ['Gemma2Model'],
    attention_bias: false,
    attention_dropout: pyFloat(0),
    attn_logit_softcapping: pyFloat(c.attnLogitSoftcapping),
    bos_token_id: 2,
    cache_implementation: 'hybrid',
    eos_token_id: 1,
    final_logit_softcapping: pyFloat(30),
    head_dim: c.headDim,
    hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh',
    hidden_size: c.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: 8192,
    model_type: 'gemma2',
    num_attention_heads: c.numHeads,
    num_hidden_layers: c.numLayers,
    num_key_value_heads: c.numHeads,
    pad_token_id: 0,
    query_pre_attn_scalar: c.headDim,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: pyFloat(10000),
    sliding_window: 4096,
    torch_dtype: 'float32',
    transformers_version: '4.47.0',
    use_cache: true,
    vocab_size: tinyTextEncoderVocabSize(),
  };
}

const tokenEntry = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false });

/**
 * GemmaTokenizer-style tokenizer_config.json. `unk_token` must be a plain string: it is what
 * makes @huggingface/tokenizers 0.2.0 map unknown WordLevel words to `<unk>` (see the tests).
 * Padding side is right, as SanaPipeline forces it (diffusers sets tokenizer.padding_side = "right").
 */
function tokenizerConfigJson(): PyObject {
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((t, i) => [String(i), { ...tokenEntry(t), special: true }])),
    bos_token: '<bos>',
    clean_up_tokenization_spaces: false,
    eos_token: '<eos>',
    extra_special_tokens: {},
    // Python writes int(1e30) as an exact integer; JSON.parse reads it as 1e30.
    model_max_length: pyRaw('1000000000000000019884624838656'),
    pad_token: '<pad>',
    padding_side: 'right',
    sp_model_kwargs: {},
    spaces_between_special_tokens: false,
    tokenizer_class: 'GemmaTokenizer',
    unk_token: '<unk>',
    use_default_system_prompt: false,
  };
}

function specialTokensMapJson(): PyObject {
  return {
    bos_token: tokenEntry('<bos>'),
    eos_token: tokenEntry('<eos>'),
    pad_token: tokenEntry('<pad>'),
    unk_token: tokenEntry('<unk>'),
  };
}

// ---------------------------------------------------------------------------------------------
// Python-style JSON (json.dumps(indent=2, sort_keys=True)): non-finite floats as
// NaN/Infinity/-Infinity, integral floats as `3.0`, small floats as `1e-06`.

class PyFloat { constructor(readonly value: number) {} }
class PyRaw { constructor(readonly text: string) {} }
const pyFloat = (x: number) => new PyFloat(x);
const pyRaw = (text: string) => new PyRaw(text);
type PyValue = null | boolean | string | number | PyFloat | PyRaw | PyValue[] | PyObject;
interface PyObject { [key: string]: PyValue }

function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  const [mant, e] = x.toExponential().split('e');
  const exp = Number(e);
  // Python's repr switches to exponent notation below 1e-4 and from 1e16, with 2+ exponent digits.
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function pyJson(value: PyValue, indent = ''): string {
  if (value === null) return 'null';
  if (value instanceof PyRaw) return value.text;
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  if (typeof value !== 'object') return JSON.stringify(value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pyJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${pyJson(value[k], inner)}`).join(',\n')}\n${indent}}`;
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv: readonly string[]): { outDir: string; opts: TinyModelOptions } {
  const usage = 'usage: make-tiny-models <outDir> [--layout sanagraph|optimum] [--seed N] [--fp16] [--no-text-encoder] [--mask int64|float]';
  let outDir: string | undefined;
  const opts: TinyModelOptions = { layout: 'sanagraph' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${usage}`);
      return v;
    };
    if (a === '--layout') {
      const v = next();
      if (v !== 'sanagraph' && v !== 'optimum') throw new Error(`bad --layout ${v}\n${usage}`);
      opts.layout = v;
    } else if (a === '--seed') {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 0) throw new Error(`bad --seed\n${usage}`);
      opts.seed = n;
    } else if (a === '--mask') {
      const v = next();
      if (v !== 'int64' && v !== 'float') throw new Error(`bad --mask ${v}\n${usage}`);
      opts.maskDtype = v;
    } else if (a === '--fp16') opts.fp16 = true;
    else if (a === '--no-text-encoder') opts.textEncoder = false;
    else if (a.startsWith('-') || outDir !== undefined) throw new Error(`unexpected argument ${a}\n${usage}`);
    else outDir = a;
  }
  if (!outDir) throw new Error(usage);
  return { outDir, opts };
}

async function cli(): Promise<void> {
  const { outDir, opts } = parseArgs(process.argv.slice(2));
  const summary = await makeTinyModels(outDir, opts);
  for (const [file, bytes] of Object.entries(summary.files)) console.log(`${String(bytes).padStart(9)}  ${path.join(outDir, file)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
