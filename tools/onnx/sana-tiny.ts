/**
 * Tiny random-weight models with the structure of the Sana pipeline, for tests and benchmarks.
 *
 * Structure follows huggingface/diffusers (read for facts, our own code):
 *  - transformer: `models/transformers/sana_transformer.py` (SanaTransformer2DModel, GLUMBConv,
 *    SanaModulatedNorm) and `attention_processor.py` (SanaLinearAttnProcessor2_0,
 *    SanaAttnProcessor2_0); adaLN-single from `normalization.py`/`embeddings.py`
 *    (Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) → TimestepEmbedding).
 *  - decoder: `models/autoencoders/autoencoder_dc.py` (ResBlock with channel RMSNorm, conv +
 *    pixel-shuffle up blocks, RMSNorm → ReLU → conv_out), without the channel-duplicating shortcuts.
 *  - text encoder: a Gemma-2-shaped decoder stack (embedding·√D, pre/post RMSNorms with (1 + w),
 *    causal + padding masked attention with logit soft-capping, gated GELU-tanh MLP). No RoPE:
 *    causal attention already makes the output position-dependent.
 * Weights are seeded uniform draws, so outputs are meaningless but deterministic.
 */
import { GraphBuilder, type ElemType, type FloatType } from '../../engine/onnx/graph-builder.ts';
import type { Dim } from '../../engine/onnx/protobuf-writer.ts';
import { DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION } from '../../nodes/pipeline-folder.ts';

export type Layout = 'sanagraph' | 'optimum';
export type MaskDType = 'int64' | 'float';

// ---------------------------------------------------------------------------------------------
// I/O naming per layout

/**
 * The `optimum` names/dims/input order are what optimum-onnx exports for Sana
 * (optimum/exporters/onnx/model_configs.py: SanaTransformerOnnxConfig inherits the
 * `out_hidden_states` output of SD3TransformerOnnxConfig (`out_sample` is the UNet's name), and
 * ORTTransformer in optimum/onnxruntime/modeling_diffusion.py binds `out_hidden_states`; inputs
 * are ordered by the forward() signature: hidden_states, encoder_hidden_states, timestep,
 * encoder_attention_mask; the mask is int64, the timestep float [batch_size]).
 */
interface DitIo {
  order: readonly DitInput[];
  output: string;
  batch: string;
  height: string;
  width: string;
  seq: string;
}
type DitInput = 'hidden_states' | 'encoder_hidden_states' | 'encoder_attention_mask' | 'timestep';

const DIT_IO: Record<Layout, DitIo> = {
  sanagraph: {
    order: ['hidden_states', 'encoder_hidden_states', 'encoder_attention_mask', 'timestep'],
    output: 'velocity', batch: 'batch', height: 'height', width: 'width', seq: 'sequence_length',
  },
  optimum: {
    order: ['hidden_states', 'encoder_hidden_states', 'timestep', 'encoder_attention_mask'],
    output: 'out_hidden_states', batch: 'batch_size', height: 'height', width: 'width', seq: 'sequence_length',
  },
};

const VAE_IO: Record<Layout, { input: string; output: string; batch: string; height: string; width: string }> = {
  sanagraph: { input: 'latent', output: 'image', batch: 'batch', height: 'height', width: 'width' },
  // DcaeDecoderOnnxConfig: latent_sample {batch_size, latent_height, latent_width} → sample.
  optimum: { input: 'latent_sample', output: 'sample', batch: 'batch_size', height: 'latent_height', width: 'latent_width' },
};

const TE_IO: Record<Layout, { batch: string; seq: string }> = {
  sanagraph: { batch: 'batch', seq: 'sequence_length' },
  // Gemma2TextEncoderOnnxConfig (feature-extraction): input_ids/attention_mask int64 → last_hidden_state.
  optimum: { batch: 'batch_size', seq: 'sequence_length' },
};

/** Optimum's default ONNX opset (optimum/exporters/onnx/base.py DEFAULT_ONNX_OPSET); ours is 17. */
export const LAYOUT_OPSET: Record<Layout, number> = { sanagraph: 17, optimum: 18 };

// ---------------------------------------------------------------------------------------------
// Configs

export interface TransformerConfig {
  inChannels: number;
  outChannels: number;
  numAttentionHeads: number;
  attentionHeadDim: number;
  numCrossAttentionHeads: number;
  crossAttentionHeadDim: number;
  numLayers: number;
  captionChannels: number;
  mlpRatio: number;
  /** Width of the sinusoidal timestep embedding (diffusers: 256). */
  freqDim: number;
  normEps: number;
}

export const TINY_TRANSFORMER: TransformerConfig = {
  inChannels: 32, outChannels: 32,
  numAttentionHeads: 2, attentionHeadDim: 32,
  numCrossAttentionHeads: 2, crossAttentionHeadDim: 32,
  numLayers: 2, captionChannels: 64, mlpRatio: 2.5, freqDim: 256, normEps: 1e-6,
};

export interface VaeConfig {
  latentChannels: number;
  /** Widths from the latent side outwards: stage s runs at width[s]; 5 up-steps → 32×. */
  widths: readonly number[];
}

export const TINY_VAE: VaeConfig = { latentChannels: 32, widths: [16, 16, 16, 16, 8, 8] };

/**
 * Real-size I/O with a cheap body, for benchmarks of everything around the model calls: the
 * transformer takes exactly Sana-1600M's inputs (32 latent channels, caption width 2304; the
 * text length comes from the conditioning, 300 in diffusers) and projects them into one narrow
 * block; the decoder maps DC-AE's 32 latent channels to RGB at 32× through narrow stages.
 */
export const REALSIZE_TRANSFORMER: TransformerConfig = { ...TINY_TRANSFORMER, captionChannels: 2304, numLayers: 1 };
export const REALSIZE_VAE: VaeConfig = { latentChannels: 32, widths: [8, 8, 4, 4, 4, 4] };

export interface TextEncoderConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  attnLogitSoftcapping: number;
}

export const TINY_TEXT_ENCODER: Omit<TextEncoderConfig, 'vocabSize'> = {
  hiddenSize: 64, numLayers: 1, numHeads: 2, headDim: 32, intermediateSize: 128,
  rmsNormEps: 1e-6, attnLogitSoftcapping: 50,
};

export interface BuildCommon {
  seed: number;
  layout?: Layout;
  /** Override the opset (default: LAYOUT_OPSET[layout]). */
  opset?: number;
}

const META = (kind: string, seed: number, layout: Layout): Record<string, string> => ({
  'sanagraph.tiny': kind,
  'sanagraph.seed': String(seed),
  'sanagraph.layout': layout,
});

// ---------------------------------------------------------------------------------------------
// Shared graph pieces

/** [B,1,1,L] additive attention bias from a [B,L] keep-mask: (1 − mask)·neg. */
function maskBias(g: GraphBuilder, mask: string, neg: number): string {
  const m = g.cast(mask, g.floatType);
  const bias = g.mul(g.sub(g.scalar(1), m), g.scalar(neg));
  return g.unsqueeze(bias, [1, 2]);
}

/** [B,N,heads·d] → [B,heads,N,d] (or [B,heads,d,N] with `keyT`). */
function splitHeads(g: GraphBuilder, x: string, heads: number, d: number, keyT = false): string {
  return g.transpose(g.reshape(x, [0, 0, heads, d]), keyT ? [0, 2, 3, 1] : [0, 2, 1, 3]);
}

/** [B,heads,N,d] → [B,N,heads·d] */
function mergeHeads(g: GraphBuilder, x: string, heads: number, d: number): string {
  return g.reshape(g.transpose(x, [0, 2, 1, 3]), [0, 0, heads * d]);
}

/** Softmax attention over the last axis with an additive bias broadcast to [B,heads,Nq,Nk]. */
function softmaxAttention(g: GraphBuilder, q: string, kT: string, v: string, scale: number, bias: string, softcap?: number): string {
  let s = g.mul(g.matmul(q, kT), g.scalar(scale));
  if (softcap) s = g.mul(g.op1('Tanh', [g.div(s, g.scalar(softcap))]), g.scalar(softcap));
  const p = g.op1('Softmax', [g.add(s, bias)], { axis: -1 });
  return g.matmul(p, v);
}

// ---------------------------------------------------------------------------------------------
// Transformer (DiT)

export interface TransformerOptions extends BuildCommon {
  dtype?: FloatType;
  /** 'float' = the model's float type (float32/float16); optimum exports int64. */
  maskDtype?: MaskDType;
  config?: Partial<TransformerConfig>;
}

interface DitCtx {
  g: GraphBuilder;
  cfg: TransformerConfig;
  dim: number;
  /** int64 shape [B, dim, h, w], for moving tokens back to NCHW. */
  nchw: (channels: number) => string;
}

export function buildTransformer(opts: TransformerOptions): Uint8Array {
  const layout = opts.layout ?? 'sanagraph';
  const cfg = { ...TINY_TRANSFORMER, ...opts.config };
  const dtype = opts.dtype ?? 'float32';
  const io = DIT_IO[layout];
  const g = new GraphBuilder({ seed: opts.seed, opset: opts.opset ?? LAYOUT_OPSET[layout], floatType: dtype, name: 'sana_transformer' });
  const dim = cfg.numAttentionHeads * cfg.attentionHeadDim;
  const { batch: B, height: H, width: W, seq: L } = io;

  const maskType: ElemType = (opts.maskDtype ?? (layout === 'optimum' ? 'int64' : 'float')) === 'int64' ? 'int64' : dtype;
  const specs: Record<DitInput, [ElemType, Dim[]]> = {
    hidden_states: [dtype, [B, cfg.inChannels, H, W]],
    encoder_hidden_states: [dtype, [B, L, cfg.captionChannels]],
    encoder_attention_mask: [maskType, [B, L]],
    timestep: [dtype, [B]],
  };
  for (const name of io.order) g.input(name, ...specs[name]);

  const ctx: DitCtx = { g, cfg, dim, nchw: nchwShape(g, 'hidden_states') };

  // 1. Patch embedding (patch size 1 → a 1×1 conv), then tokens [B,N,D].
  const patches = g.conv2d('hidden_states', cfg.inChannels, dim, 1, { name: 'patch_embed.proj' });
  let x = g.transpose(g.reshape(patches, [0, dim, -1]), [0, 2, 1]);

  // 2. adaLN-single: one timestep MLP shared by all blocks.
  const { temb, modulation } = timestepEmbedding(ctx, 'timestep');

  // 3. Caption projection (Linear → GELU-tanh → Linear) and RMSNorm.
  let y = g.linear('encoder_hidden_states', cfg.captionChannels, dim, { name: 'caption_projection.linear_1' });
  y = g.linear(g.geluTanh(y), dim, dim, { name: 'caption_projection.linear_2' });
  y = g.rmsNorm(y, dim, { eps: 1e-5, name: 'caption_norm' });
  // diffusers turns the keep-mask into a bias of −10000 (fits in fp16).
  const bias = maskBias(g, 'encoder_attention_mask', -10000);

  for (let i = 0; i < cfg.numLayers; i++) {
    x = g.scope(`transformer_blocks.${i}`, () => transformerBlock(ctx, x, y, bias, modulation));
  }

  // 4. Final modulated norm + projection, unpatchify to [B,C,h,w].
  x = finalLayer(ctx, x, temb);
  const out = g.reshape(g.transpose(x, [0, 2, 1]), ctx.nchw(cfg.outChannels));
  g.output(out, io.output, dtype, [B, cfg.outChannels, H, W]);
  return g.toBytes({ metadata: META(`transformer-${dtype}`, opts.seed, layout) });
}

/** Returns a function building Concat(B, C, h, w) from an NCHW input's runtime shape. */
function nchwShape(g: GraphBuilder, nchwInput: string): (channels: number) => string {
  const shape = g.op1('Shape', [nchwInput]);
  const b = g.op1('Slice', [shape, g.constI64([0]), g.constI64([1])]);
  const hw = g.op1('Slice', [shape, g.constI64([2]), g.constI64([4])]);
  const cache = new Map<number, string>();
  return (channels) => {
    let s = cache.get(channels);
    if (!s) {
      s = g.op1('Concat', [b, g.constI64([channels]), hw], { axis: 0 });
      cache.set(channels, s);
    }
    return s;
  };
}

/**
 * Sinusoidal embedding ([cos, sin] order: flip_sin_to_cos) → Linear → SiLU → Linear = temb;
 * modulation = Linear(SiLU(temb)) → [B, 6·D]. The sinusoid is computed in fp32 as diffusers does
 * (t up to 1000 has too little precision in fp16 for the high frequencies).
 */
function timestepEmbedding(ctx: DitCtx, t: string): { temb: string; modulation: string } {
  const { g, cfg, dim } = ctx;
  const half = cfg.freqDim / 2;
  const freqs = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const t32 = g.floatType === 'float32' ? t : g.cast(t, 'float32');
  const args = g.mul(g.unsqueeze(t32, [1]), g.constant('float32', freqs, [1, half]));
  let emb = g.op1('Concat', [g.op1('Cos', [args]), g.op1('Sin', [args])], { axis: -1 });
  if (g.floatType !== 'float32') emb = g.cast(emb, g.floatType);
  return g.scope('time_embed', () => {
    let temb = g.linear(emb, cfg.freqDim, dim, { name: 'emb.timestep_embedder.linear_1' });
    temb = g.linear(g.silu(temb), dim, dim, { name: 'emb.timestep_embedder.linear_2' });
    const modulation = g.linear(g.silu(temb), dim, 6 * dim, { name: 'linear' });
    return { temb, modulation };
  });
}

/** scale_shift_table[None] + modulation.reshape(B, 6, D), chunked into six [B,1,D] tensors. */
function blockModulation(ctx: DitCtx, modulation: string): string[] {
  const { g, dim } = ctx;
  const table = g.param('scale_shift_table', [6, dim], { kind: 'normal', std: 1 / Math.sqrt(dim) });
  const mod = g.add(g.reshape(modulation, [0, 6, dim]), table);
  return g.split(mod, 1, [1, 1, 1, 1, 1, 1]);
}

function transformerBlock(ctx: DitCtx, x: string, text: string, bias: string, modulation: string): string {
  const { g, cfg, dim } = ctx;
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = blockModulation(ctx, modulation);
  const modulate = (h: string, shift: string, scale: string) => g.add(g.mul(h, g.add(scale, g.scalar(1))), shift);

  // Self-attention: ReLU linear attention on the modulated LayerNorm (no affine).
  const n1 = modulate(g.layerNorm(x, dim, cfg.normEps, { name: 'norm1' }), shiftMsa, scaleMsa);
  x = g.add(x, g.mul(gateMsa, g.scope('attn1', () => linearAttention(ctx, n1))));

  // Cross-attention to the caption, on the *unnormalised* hidden states (as diffusers does).
  x = g.add(x, g.scope('attn2', () => crossAttention(ctx, x, text, bias)));

  // Mix-FFN on the modulated norm2, in NCHW.
  const n2 = modulate(g.layerNorm(x, dim, cfg.normEps, { name: 'norm2' }), shiftMlp, scaleMlp);
  const ff = g.scope('ff', () => mixFfn(ctx, n2));
  return g.add(x, g.mul(gateMlp, ff));
}

/**
 * diffusers' SanaLinearAttnProcessor2_0: q,k = ReLU; v padded with a row of ones so that one
 * matmul chain yields numerator and normaliser: ((v_pad · kᵀ) · q), then num / (den + 1e-15).
 * Computed in fp32 even in an fp16 model (diffusers calls .float() here).
 */
function linearAttention(ctx: DitCtx, x: string): string {
  const { g, cfg, dim } = ctx;
  const h = cfg.numAttentionHeads;
  const d = cfg.attentionHeadDim;
  const q = g.linear(x, dim, dim, { bias: false, name: 'to_q' });
  const k = g.linear(x, dim, dim, { bias: false, name: 'to_k' });
  const v = g.linear(x, dim, dim, { bias: false, name: 'to_v' });
  const f32 = (t: string) => (g.floatType === 'float32' ? t : g.cast(t, 'float32'));
  const qT = f32(g.relu(splitHeads(g, q, h, d, true))); // [B,h,d,N]
  const kh = f32(g.relu(splitHeads(g, k, h, d))); // [B,h,N,d]
  const vT = f32(splitHeads(g, v, h, d, true)); // [B,h,d,N]
  const vPad = g.op1('Pad', [vT, g.constI64([0, 0, 0, 0, 0, 0, 1, 0]), g.constant('float32', [1], [])], { mode: 'constant' });
  const out = g.matmul(g.matmul(vPad, kh), qT); // [B,h,d+1,N]
  const num = g.op1('Slice', [out, g.constI64([0]), g.constI64([d]), g.constI64([2])]);
  const den = g.op1('Slice', [out, g.constI64([d]), g.constI64([d + 1]), g.constI64([2])]);
  let o = g.div(num, g.add(den, g.constant('float32', [1e-15], [])));
  o = g.transpose(g.reshape(o, [0, dim, -1]), [0, 2, 1]); // [B,N,D]
  if (g.floatType !== 'float32') o = g.cast(o, g.floatType);
  return g.linear(o, dim, dim, { name: 'to_out.0' });
}

/** diffusers' SanaAttnProcessor2_0: masked softmax attention, q from the image, k/v from text. */
function crossAttention(ctx: DitCtx, x: string, text: string, bias: string): string {
  const { g, cfg, dim } = ctx;
  const h = cfg.numCrossAttentionHeads;
  const d = cfg.crossAttentionHeadDim;
  const inner = h * d;
  const q = splitHeads(g, g.linear(x, dim, inner, { name: 'to_q' }), h, d);
  const kT = splitHeads(g, g.linear(text, dim, inner, { name: 'to_k' }), h, d, true);
  const v = splitHeads(g, g.linear(text, dim, inner, { name: 'to_v' }), h, d);
  const o = mergeHeads(g, softmaxAttention(g, q, kT, v, 1 / Math.sqrt(d), bias), h, d);
  return g.linear(o, inner, dim, { name: 'to_out.0' });
}

/** GLUMBConv: 1×1 expand → SiLU → depthwise 3×3 → split (x, gate) → x·SiLU(gate) → 1×1 (no bias). */
function mixFfn(ctx: DitCtx, x: string): string {
  const { g, cfg, dim } = ctx;
  const hidden = Math.floor(cfg.mlpRatio * dim);
  const img = g.reshape(g.transpose(x, [0, 2, 1]), ctx.nchw(dim));
  let hdn = g.silu(g.conv2d(img, dim, 2 * hidden, 1, { name: 'conv_inverted' }));
  hdn = g.conv2d(hdn, 2 * hidden, 2 * hidden, 3, { group: 2 * hidden, name: 'conv_depth' });
  const [a, gate] = g.split(hdn, 1, [hidden, hidden]);
  const out = g.conv2d(g.mul(a, g.silu(gate)), hidden, dim, 1, { bias: false, name: 'conv_point' });
  return g.transpose(g.reshape(out, [0, dim, -1]), [0, 2, 1]);
}

/** SanaModulatedNorm with the model-level [2,D] table and the *pre-SiLU* temb, then proj_out. */
function finalLayer(ctx: DitCtx, x: string, temb: string): string {
  const { g, cfg, dim } = ctx;
  const table = g.param('scale_shift_table', [2, dim], { kind: 'normal', std: 1 / Math.sqrt(dim) });
  const [shift, scale] = g.split(g.add(g.unsqueeze(temb, [1]), table), 1, [1, 1]);
  const n = g.layerNorm(x, dim, 1e-6, { name: 'norm_out.norm' });
  const mod = g.add(g.mul(n, g.add(scale, g.scalar(1))), shift);
  return g.linear(mod, dim, cfg.outChannels, { name: 'proj_out' });
}

// ---------------------------------------------------------------------------------------------
// DC-AE-like decoder

export interface VaeOptions extends BuildCommon {
  dtype?: FloatType;
  config?: Partial<VaeConfig>;
}

export function buildVaeDecoder(opts: VaeOptions): Uint8Array {
  const layout = opts.layout ?? 'sanagraph';
  const cfg = { ...TINY_VAE, ...opts.config };
  const dtype = opts.dtype ?? 'float32';
  const io = VAE_IO[layout];
  const g = new GraphBuilder({ seed: opts.seed, opset: opts.opset ?? LAYOUT_OPSET[layout], floatType: dtype, name: 'dc_ae_decoder' });
  const w = cfg.widths;
  const up = 2 ** (w.length - 1);
  g.input(io.input, dtype, [io.batch, cfg.latentChannels, io.height, io.width]);

  let x = g.conv2d(io.input, cfg.latentChannels, w[0], 3, { name: 'decoder.conv_in' });
  for (let s = 0; s < w.length - 1; s++) {
    x = g.scope(`decoder.stages.${s}`, () => {
      const r = resBlock(g, x, w[s]);
      // Conv to 4·C then DepthToSpace(CRD) = torch.nn.PixelShuffle(2).
      const c = g.conv2d(r, w[s], 4 * w[s + 1], 3, { name: 'upsample.conv' });
      return g.op1('DepthToSpace', [c], { blocksize: 2, mode: 'CRD' });
    });
  }
  const last = w[w.length - 1];
  // Unit-RMS channels → ReLU → conv_out with fan-in bounds keeps the image roughly in [−1, 1].
  x = g.relu(g.rmsNorm(x, last, { eps: 1e-5, axis: 1, bias: true, name: 'decoder.norm_out' }));
  x = g.conv2d(x, last, 3, 3, { name: 'decoder.conv_out', gain: 0.6 });
  const outDims: Dim[] = layout === 'optimum'
    ? [io.batch, 3, `${io.height} * ${up}`, `${io.width} * ${up}`]
    : [io.batch, 3, `${io.height}*${up}`, `${io.width}*${up}`];
  g.output(x, io.output, dtype, outDims);
  return g.toBytes({ metadata: META(`vae-decoder-${dtype}`, opts.seed, layout) });
}

/** DC-AE ResBlock: conv 3×3 → SiLU → conv 3×3 (no bias) → channel RMSNorm → + x. */
function resBlock(g: GraphBuilder, x: string, c: number): string {
  return g.scope('res', () => {
    const h = g.silu(g.conv2d(x, c, c, 3, { name: 'conv1' }));
    const h2 = g.conv2d(h, c, c, 3, { bias: false, name: 'conv2' });
    return g.add(x, g.rmsNorm(h2, c, { eps: 1e-5, axis: 1, bias: true, name: 'norm' }));
  });
}

/**
 * A stand-in for optimum's `vae_encoder/model.onnx` (sample → latent_sample): 32×32 average
 * pooling and a 1×1 conv. Only its interface is real.
 */
export function buildVaeEncoderStub(opts: BuildCommon & { latentChannels?: number }): Uint8Array {
  const g = new GraphBuilder({ seed: opts.seed, opset: opts.opset ?? LAYOUT_OPSET.optimum, name: 'dc_ae_encoder_stub' });
  const c = opts.latentChannels ?? TINY_VAE.latentChannels;
  g.input('sample', 'float32', ['batch_size', 3, 'height', 'width']);
  const pooled = g.op1('AveragePool', ['sample'], { kernel_shape: [32, 32], strides: [32, 32] });
  const z = g.conv2d(pooled, 3, c, 1, { name: 'encoder.conv_out' });
  g.output(z, 'latent_sample', 'float32', ['batch_size', c, 'height / 32', 'width / 32']);
  return g.toBytes({ metadata: META('vae-encoder-stub', opts.seed, 'optimum') });
}

// ---------------------------------------------------------------------------------------------
// Gemma-like text encoder

export interface TextEncoderOptions extends BuildCommon {
  vocabSize: number;
  config?: Partial<Omit<TextEncoderConfig, 'vocabSize'>>;
}

export function buildTextEncoder(opts: TextEncoderOptions): Uint8Array {
  const layout = opts.layout ?? 'sanagraph';
  const cfg: TextEncoderConfig = { ...TINY_TEXT_ENCODER, ...opts.config, vocabSize: opts.vocabSize };
  const { batch: B, seq: L } = TE_IO[layout];
  const g = new GraphBuilder({ seed: opts.seed, opset: opts.opset ?? LAYOUT_OPSET[layout], name: 'gemma_tiny' });
  const D = cfg.hiddenSize;
  g.input('input_ids', 'int64', [B, L]);
  g.input('attention_mask', 'int64', [B, L]);

  // Gemma scales embeddings by √D (the normaliser is cast to the activation dtype).
  const table = g.param('embed_tokens.weight', [cfg.vocabSize, D], { kind: 'normal', std: 0.02 });
  let x = g.mul(g.op1('Gather', [table, 'input_ids'], { axis: 0 }), g.scalar(Math.sqrt(D)));

  // -1e9 rather than -inf: a fully masked row must stay finite.
  const bias = g.add(maskBias(g, 'attention_mask', -1e9), causalBias(g, 'input_ids', -1e9));
  for (let i = 0; i < cfg.numLayers; i++) {
    x = g.scope(`layers.${i}`, () => gemmaLayer(g, cfg, x, bias));
  }
  x = g.rmsNorm(x, D, { eps: cfg.rmsNormEps, weight: 'gemma', name: 'norm' });
  g.output(x, 'last_hidden_state', 'float32', [B, L, D]);
  return g.toBytes({ metadata: META('text-encoder', opts.seed, layout) });
}

/** [L,L] bias: 0 on and below the diagonal, `neg` above it (keys after the query). */
function causalBias(g: GraphBuilder, ids: string, neg: number): string {
  const len = g.op1('Gather', [g.op1('Shape', [ids]), g.constI64([1], [])], { axis: 0 });
  const pos = g.op1('Range', [g.constI64([0], []), len, g.constI64([1], [])]);
  const future = g.op1('Greater', [g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1])]);
  return g.mul(g.cast(future, g.floatType), g.scalar(neg));
}

function gemmaLayer(g: GraphBuilder, cfg: TextEncoderConfig, x: string, bias: string): string {
  const D = cfg.hiddenSize;
  const norm = (t: string, name: string) => g.rmsNorm(t, D, { eps: cfg.rmsNormEps, weight: 'gemma', name });

  let h = norm(x, 'input_layernorm');
  h = g.scope('self_attn', () => {
    const inner = cfg.numHeads * cfg.headDim;
    const q = splitHeads(g, g.linear(h, D, inner, { bias: false, name: 'q_proj' }), cfg.numHeads, cfg.headDim);
    const kT = splitHeads(g, g.linear(h, D, inner, { bias: false, name: 'k_proj' }), cfg.numHeads, cfg.headDim, true);
    const v = splitHeads(g, g.linear(h, D, inner, { bias: false, name: 'v_proj' }), cfg.numHeads, cfg.headDim);
    const o = softmaxAttention(g, q, kT, v, 1 / Math.sqrt(cfg.headDim), bias, cfg.attnLogitSoftcapping);
    return g.linear(mergeHeads(g, o, cfg.numHeads, cfg.headDim), inner, D, { bias: false, name: 'o_proj' });
  });
  x = g.add(x, norm(h, 'post_attention_layernorm'));

  h = norm(x, 'pre_feedforward_layernorm');
  h = g.scope('mlp', () => {
    const gate = g.geluTanh(g.linear(h, D, cfg.intermediateSize, { bias: false, name: 'gate_proj' }));
    const upP = g.linear(h, D, cfg.intermediateSize, { bias: false, name: 'up_proj' });
    return g.linear(g.mul(gate, upP), cfg.intermediateSize, D, { bias: false, name: 'down_proj' });
  });
  return g.add(x, norm(h, 'post_feedforward_layernorm'));
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

/** The test sentence used across the project. */
export const TEST_PROMPT = 'a large red circle in the center on a blue background';

/** A short instruction for the sanagraph layout's pipeline.json (all words are in the vocab). */
export const TINY_COMPLEX_HUMAN_INSTRUCTION: readonly string[] = [
  "Given a user prompt, generate an 'Enhanced prompt' with detailed visual descriptions.",
  '- Add colors, shapes, sizes and textures.',
  'User Prompt: ',
];

const EXTRA_WORDS = `
a an the this that these those of in on at by for with without from to into onto over under
above below behind beside between near far inside outside around through across along up down
left right top bottom center middle corner side front back edge background foreground and or but
is are was were be been being has have had it its there here very quite slightly extremely
large small big tiny huge little tall short long wide narrow thick thin round square flat
bright dark light pale deep soft hard smooth rough shiny matte glowing wet dry warm cold hot
red orange yellow green blue purple violet pink brown black white gray grey gold silver cyan
magenta teal navy beige colorful transparent striped dotted
circle square triangle rectangle star heart line dot ring sphere cube cone cylinder pyramid
shape shapes pattern texture gradient border frame
cat dog bird fish horse cow sheep lion tiger bear fox wolf rabbit mouse owl eagle duck frog
person people man woman child boy girl face eyes hair hand hands portrait crowd
tree trees flower flowers grass leaf leaves forest garden field mountain mountains hill river
lake sea ocean beach sand wave waves sky cloud clouds sun moon stars rain snow fog storm
city street road bridge building buildings house houses tower castle church room window door
wall floor roof table chair bed lamp car bus train boat ship plane bicycle
apple banana orange cake bread cup bottle book clock ball box bag hat shoe shirt dress
morning evening night sunset sunrise dusk dawn summer winter autumn spring
photo photograph painting drawing sketch illustration render cartoon anime watercolor oil
realistic detailed simple minimal abstract style art artwork scene view image picture
high quality resolution lighting shadow shadows reflection sharp focus blurry close wide angle
one two three four five many several some few all each every other another
sitting standing walking running flying swimming sleeping looking holding wearing playing
made covered filled surrounded painted drawn lit
`;

/** Splits like the `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`) after lowercasing. */
export function preTokenize(text: string): string[] {
  return text.toLowerCase().match(/\w+|[^\w\s]+/g) ?? [];
}

export const SPECIAL_TOKENS = ['<pad>', '<eos>', '<bos>', '<unk>'] as const;

/** Vocabulary: specials (ids 0–3, as in Gemma), then words in first-seen order. */
export function tinyVocabulary(): string[] {
  const words = [
    ...preTokenize(TEST_PROMPT),
    ...DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION.flatMap(preTokenize),
    ...TINY_COMPLEX_HUMAN_INSTRUCTION.flatMap(preTokenize),
    ...preTokenize(EXTRA_WORDS),
  ];
  return [...new Set<string>([...SPECIAL_TOKENS, ...words])];
}

/** The text encoder's embedding rows: the vocabulary rounded up to a multiple of 64. */
export function tinyTextEncoderVocabSize(): number {
  return Math.ceil(tinyVocabulary().length / 64) * 64;
}

/**
 * A Hugging Face `tokenizer.json`: WordLevel model, Lowercase normaliser, Whitespace
 * pre-tokenizer, TemplateProcessing that prepends `<bos>` (Gemma adds bos, not eos).
 *
 * @huggingface/tokenizers 0.2.0 has no WordLevel class: it falls back to its "Legacy" model,
 * which ignores `model.unk_token` and takes the unknown token from the *second* constructor
 * argument (`new Tokenizer(json, { unk_token: '<unk>' })`, i.e. tokenizer_config.json, where it
 * must be a plain string). Without it unknown words get `undefined` ids.
 */
export function buildTokenizerJson(): Record<string, unknown> {
  const vocab = tinyVocabulary();
  const addedToken = (content: string, id: number) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const bos = { SpecialToken: { id: '<bos>', type_id: 0 } };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => addedToken(t, i)),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, bos, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<bos>': { id: '<bos>', ids: [2], tokens: ['<bos>'] } },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.map((w, i) => [w, i])), unk_token: '<unk>' },
  };
}
