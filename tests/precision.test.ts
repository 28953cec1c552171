/**
 * How far each provider and precision is from fp32 on the CPU provider, for the tiny Sana
 * transformer (optimum layout; its fp16 build holds exactly the fp16 roundings of the fp32
 * build's weights), through the engine: one transformer call on [uncond; cond] (the text
 * encoder's embeddings of the empty prompt and of the workflow's prompt, a latent of N(0, 1)
 * noise from LatentInit) at timesteps 999, 500 and 20, and 20 DPM-Solver++ steps with CFG 4.5
 * (workflows/tiny-random.json). WebGPU runs on Mesa's lavapipe here, on a GPU where there is one.
 *
 * Error model, used for every bound below. u = 2⁻¹¹ is fp16's unit roundoff (u32 = 2⁻²⁴ fp32's).
 * - One rounding to nearest of values whose significands m are spread log-uniformly has an RMS
 *   relative error of ρ = (u/√3)·√E[1/m²] = 0.425u (E[1/m²] = 3/(8 ln 2)); measured: 0.42u to
 *   0.47u for the output of one fp16 MatMul on the CPU at any length K.
 * - A dot product of length K accumulated in the storage precision rounds every partial sum; with
 *   zero-mean terms the partial sums grow like √k, so the relative error is ρ·√(K/2). Measured on
 *   WebGPU fp16 (a zero-mean [64,K]·[K,64] MatMul): 2.5u at K = 64, 4.7u at 256, 9.6u at 1024,
 *   19u at 4096: ONNX Runtime's WebGPU shaders accumulate fp16 MatMuls in fp16. The CPU provider
 *   has few fp16 kernels on x64: it runs an fp16 graph mostly in fp32 between inserted Casts
 *   (27 Casts to float in this model's optimized graph), so its dot products accumulate in fp32.
 * - Independent errors add in quadrature, each scaled by the gain from where it arises to the
 *   output; "unit gain" (every gain 1) gives a ceiling. Measured gains are below 1 here (the
 *   residual branches are gated and normalised): the ratio measured / ceiling is ≈ 0.35 on the CPU.
 *
 * The path through the tiny transformer (K = dot-product length): patch embedding 32; timestep
 * MLP 256, 64, 64; caption projection 64, 64; per block (two): self-attention q, k, v 3 × 64 (the
 * linear attention itself in fp32), out 64; cross-attention q 64, k, v 2 × 64, scores 32 (head
 * width), probabilities × values 16 (text tokens), out 64; Mix-FFN 64, depthwise 9, 160; output
 * projection 64. That is 29 weight matrices (and 3 modulation tables), ΣK = 2194, and ~100
 * elementwise results.
 *
 * Measured here (lavapipe, onnxruntime-node 1.30, x64), relative error ‖a − b‖/‖b‖ against fp32 CPU:
 *                      one call (t = 999 / 500 / 20)        20 steps, CFG 4.5
 *   fp16 CPU           4.4e-4 – 4.5e-4 (0.91u – 0.92u)      3.0e-4 (0.62u)
 *   fp32 WebGPU        3.8e-7 – 3.9e-7 (6.4 – 6.5 u32)      4.3e-7 (7.3 u32)
 *   fp16 WebGPU        1.9e-3 – 2.0e-3 (4.0u – 4.1u)        1.5e-3 (3.2u)
 * Twenty steps do not amplify the error: the latent's relative error is below one call's.
 *
 * What makes these tests fail (each tried): the timestep sinusoid computed in fp16 instead of fp32
 * (15u on the CPU at t = 999), the timestep fed through bfloat16 (999 → 1000: 97u), the
 * embeddings or the latent rounded twice, through bfloat16 and then fp16 (1.6u, 2.6u on the CPU).
 * Not caught, as too small here: casts to fp16 that truncate instead of rounding (1.06u), the
 * linear attention in fp16 instead of fp32 (no change at 256 tokens).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { readTensorFile } from '../engine/tensor-files.ts';
import type { Float32Tensor } from '../engine/index.ts';
import { pipelineEngine, tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

const U = 2 ** -11; // fp16 unit roundoff
const U32 = 2 ** -24; // fp32 unit roundoff
const TIMESTEPS = [999, 500, 20];

type Config = { fp16: boolean; device: 'cpu' | 'webgpu' };
interface Result { calls: Float32Array[]; sampled: Float32Array }

/**
 * One workflow per configuration: the tiny workflow's Sampler (20 steps) and, beside it, one
 * DiTStep per timestep on [uncond; cond] and the same initial latent; all saved with SaveLatent.
 */
async function measure(cfg: Config): Promise<Result> {
  const { engine, services } = pipelineEngine();
  try {
    const wf = await tinyWorkflow(await tinyModels({ layout: 'optimum', fp16: cfg.fp16 }), { 1: { device: cfg.device } });
    delete wf.nodes['6'];
    delete wf.nodes['7']; // no decoding: the latent is what is compared
    wf.nodes.c = { type: 'ConcatConditioning', inputs: { first: ['3', 0], second: ['2', 0] } };
    TIMESTEPS.forEach((t, i) => {
      wf.nodes[`d${i}`] = { type: 'DiTStep', inputs: { model: ['1', 0], latent: ['4', 0], conditioning: ['c', 0], timestep: t } };
      wf.nodes[`s${i}`] = { type: 'SaveLatent', inputs: { latent: [`d${i}`, 0], filename_prefix: `velocity-${t}` } };
    });
    const result = await engine.execute(wf);
    assert.equal(result.status, 'success', result.error?.exception_message);
    assert.ok(services.models.loaded().every((m) => m.provider === cfg.device), `everything ran on ${cfg.device}`);
    const saved = async (node: string) => {
      const file = (result.outputs[node].latents as { filename: string }[])[0].filename;
      return ((await readTensorFile(path.join(engine.outputDir, file))).get('latent') as Float32Tensor).data;
    };
    return { calls: await Promise.all(TIMESTEPS.map((_, i) => saved(`s${i}`))), sampled: await saved('8') };
  } finally {
    await services.models.close();
  }
}

/** ‖a − ref‖/‖ref‖, and max |a − ref| / max |ref|. */
function errors(a: Float32Array, ref: Float32Array): { rel: number; max: number } {
  assert.equal(a.length, ref.length);
  let num = 0;
  let den = 0;
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
    maxErr = Math.max(maxErr, Math.abs(e));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  assert.ok(Number.isFinite(num) && den > 0);
  return { rel: Math.sqrt(num / den), max: maxErr / maxRef };
}

const results = new Map<string, Result>();
const key = (cfg: Config) => `${cfg.fp16 ? 'fp16' : 'fp32'} ${cfg.device}`;
const REF: Config = { fp16: false, device: 'cpu' };

/**
 * Checks every one-call velocity and the sampled latent of `cfg` against fp32 CPU, in units of
 * `unit`: `call` bounds the relative error of each call (and of the sampled latent), `min` is a
 * floor for it. The largest error per element is bounded by 2·`call` of max |v|: the largest of
 * the 16k errors of a call lies ≈ 4.4σ out (√(2 ln 16384)) and max |v| ≈ 3.4 RMS(v) here, so it is
 * ≈ 1.3× the relative error (measured 1.1× – 1.5×). With `amplification`, the sampled latent's
 * relative error must also stay below that many times the largest one-call error of the same run.
 */
function check(t: TestContext, cfg: Config, unit: number, bounds: { min?: number; call: number; amplification?: number }) {
  const got = results.get(key(cfg))!;
  const ref = results.get(key(REF))!;
  const inUnits = (x: number) => `${x.toExponential(2)} (${(x / unit).toFixed(2)} ${unit === U ? 'u' : 'u32'})`;
  let worstCall = 0;
  TIMESTEPS.forEach((ts, i) => {
    const { rel, max } = errors(got.calls[i], ref.calls[i]);
    worstCall = Math.max(worstCall, rel);
    t.diagnostic(`${key(cfg)}, one call at t = ${ts}: relative ${inUnits(rel)}, max ${inUnits(max)} of max |v|`);
    assert.ok(rel <= bounds.call * unit, `${key(cfg)} at t = ${ts}: relative error ${inUnits(rel)} exceeds ${bounds.call}`);
    if (bounds.min !== undefined) assert.ok(rel >= bounds.min * unit, `${key(cfg)} at t = ${ts}: relative error ${inUnits(rel)} is below ${bounds.min}: not rounded to fp16?`);
    assert.ok(max <= 2 * bounds.call * unit, `${key(cfg)} at t = ${ts}: max error ${inUnits(max)} of max |v| exceeds ${2 * bounds.call}`);
  });
  const { rel } = errors(got.sampled, ref.sampled);
  t.diagnostic(`${key(cfg)}, 20 steps: relative ${inUnits(rel)} (${(rel / worstCall).toFixed(2)}× one call's)`);
  assert.ok(rel <= bounds.call * unit, `${key(cfg)} after 20 steps: relative error ${inUnits(rel)} exceeds ${bounds.call}`);
  if (bounds.amplification !== undefined) {
    assert.ok(rel <= bounds.amplification * worstCall, `${key(cfg)}: 20 steps amplify one call's error ${inUnits(worstCall)} to ${inUnits(rel)}`);
  }
}

describe('the precision of each provider, against fp32 on the CPU (tiny transformer)', () => {
  before(async () => {
    for (const cfg of [REF, { fp16: true, device: 'cpu' }, { fp16: false, device: 'webgpu' }, { fp16: true, device: 'webgpu' }] as Config[]) {
      results.set(key(cfg), await measure(cfg));
    }
  });
  after(() => results.clear());

  it('fp32 WebGPU: the same arithmetic in another order', (t) => {
    // Both compute in fp32 and differ only in summation order, kernel fusion and exp/tanh/sin.
    // A reordered dot product differs by ≈ 0.425·u32·√(K/2); over the path (ΣK/2 ≈ 1100, plus
    // ~100 elementwise results, unit gain) that is 0.425·√1200 ≈ 15 u32 at most. Measured 6.5 u32
    // (3.9e-7) for one call, 7.3 u32 after 20 steps (ordering noise: no amplification to check).
    // Bound 64 u32 (3.8e-6): 10× the measurement and 4× the ceiling, for GPUs whose exp/tanh are
    // less exact than lavapipe's (WGSL allows errors of several ULP).
    check(t, { fp16: false, device: 'webgpu' }, U32, { call: 64 });
  });

  it('fp16 on the CPU: rounded weights, inputs and output, computed in fp32', (t) => {
    // What differs from fp32: 32 weight tensors and 3 inputs rounded once each, the output
    // rounded once, a few fp16 tensors between the CPU provider's cast regions: ~40 roundings of
    // ρ = 0.425u, so ρ·√40 = 2.7u at unit gain. Measured 0.91u – 0.92u at every timestep.
    // Floor 0.3u: the fp16 output alone is one rounding (ρ = 0.425u, independent of the rest), so
    // less means the model did not run in fp16 at all.
    // Bound 1.25u, a small margin on purpose: this error is a fixed function of the rounded
    // weights and inputs (the fp32 kernels' own ordering noise is 1000× smaller), with no
    // run-to-run scatter to allow for. 1.25u leaves room for ~4 more fp16 roundings at unit gain
    // on the path (√(0.92² + 4·0.425²) = 1.25: another CPU's kernels, another ORT's fusions),
    // and fails when an input is rounded twice (embeddings through bfloat16: 1.6u).
    // 20 steps: a step adds Δσ·δv (ΣΔσ = 1 from noise to image), so the latent's absolute error
    // is a weighted mean of the velocity errors times the guidance factor (≈ 1 here: the fp16
    // errors of the cond and uncond passes nearly coincide, same weights, same latent), and by the
    // end |latent| ≈ 3·|v|. Measured 0.62u, 0.67× one call's error; asserted: at most one call's.
    check(t, { fp16: true, device: 'cpu' }, U, { min: 0.3, call: 1.25, amplification: 1 });
  });

  it('fp16 on WebGPU: every operation in fp16, dot products accumulated in fp16', (t) => {
    // Every dot product adds ρ·√(K/2) and every elementwise result ρ: at unit gain
    // 0.425u·√(1100 + 100) ≈ 15u; with the gain the CPU measurement shows (0.92u of a 2.7u
    // ceiling: ≈ 0.35) ≈ 5u. Measured 4.0u – 4.1u (2.0e-3) at every timestep. Bound 8u: 2× the
    // measurement (other GPUs tile and fuse differently), half the ceiling. Floor 0.3u, as on the
    // CPU. 20 steps: measured 3.2u, 0.77× one call's error; asserted: at most one call's.
    // At Sana-1600M's widths (K up to 2240 and 5600) the same model gives ≈ 15u–20u per call.
    check(t, { fp16: true, device: 'webgpu' }, U, { min: 0.3, call: 8, amplification: 1 });
  });
});
