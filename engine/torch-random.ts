/**
 * A port of PyTorch's CPU random generator, so that `randn(shape, seed)` here gives the same
 * Gaussian noise as `torch.randn(shape, generator=torch.Generator().manual_seed(seed))` on the
 * CPU in float32 (and therefore the same image as diffusers and ComfyUI for the same seed).
 *
 * Written from reading these PyTorch sources (our own code, not a copy):
 *
 * - aten/src/ATen/core/MT19937RNGEngine.h (`mt19937_engine`): the 32-bit Mersenne Twister.
 *   Seeding (`init_with_uint32`): s[0] = seed mod 2^32 — the upper 32 bits of a 64-bit seed
 *   are dropped, so seeds 5 and 2^32+5 give the same numbers — then
 *   s[j] = 1812433253 * (s[j-1] ^ (s[j-1] >> 30)) + j  (mod 2^32) for j = 1..623.
 *   Output: the standard MT19937 twist of all 624 words when they run out, then tempering
 *   y ^= y>>11; y ^= (y<<7) & 0x9d2c5680; y ^= (y<<15) & 0xefc60000; y ^= y>>18.
 * - aten/src/ATen/CPUGeneratorImpl.cpp (`CPUGeneratorImpl`): `manual_seed` builds a fresh
 *   engine and clears the cached normal samples; `random()` is one engine output;
 *   `random64()` = (first << 32) | second.
 * - aten/src/ATen/core/TransformationHelper.h (`uniform_real`) and
 *   aten/src/ATen/core/DistributionsHelper.h (`uniform_real_distribution`,
 *   `normal_distribution`):
 *     float uniform  = (random()   & (2^24 - 1)) * 2^-24     (24 = float mantissa digits)
 *     double uniform = (random64() & (2^53 - 1)) * 2^-53     (the low 53 bits of hi:lo)
 *     normal<double>: u1, u2 double uniforms; r = sqrt(-2 log1p(-u2)); θ = 2π u1;
 *                     returns r cos θ and caches r sin θ in the generator for the next call.
 * - aten/src/ATen/native/cpu/DistributionTemplates.h (`normal_kernel`, `normal_fill`,
 *   `normal_fill_AVX2`, `normal_fill_16_AVX2`) and aten/src/ATen/native/cpu/DistributionKernels.cpp
 *   (`normal_stub` is never dispatched to the AVX512 build, so every x86-64 CPU with AVX2 runs
 *   the AVX2 kernel):
 *     size < 16:  each element is (float) normal<double>() — this path uses and refills the
 *                 cached second Box–Muller value, which survives between randn calls.
 *     size >= 16: fill all `size` slots with float uniforms; then for each whole block of 16,
 *                 for j in 0..7: u1 = 1 - d[j], u2 = d[j+8], r = sqrt(-2 log u1), θ = 2π u2,
 *                 d[j] = r cos θ, d[j+8] = r sin θ (all in float32). If size % 16 != 0, draw
 *                 16 fresh uniforms into the last 16 slots (overwriting finished values) and
 *                 transform that block again. The cached normal<double> value is not touched.
 * - aten/src/ATen/native/cpu/avx_mathfun.h (`log256_ps`, `sincos256_ps`): the AVX2 kernel uses
 *   these Cephes-style float approximations instead of libm. We evaluate them lane by lane in
 *   float32, with every `a*b + c` fused into one FMA, because GCC (-ffp-contract=fast with
 *   -mfma) contracts the intrinsics that way; checked bit-exact against torch 1.13's output.
 *
 * The `'scalar'` kernel is `normal_fill` without AVX2 (ARM64/Apple Silicon, x86 without AVX2):
 * same algorithm, but with the platform's float logf/cosf/sinf, which we approximate by
 * correctly rounded results; expect agreement within a few 1e-7, not bit-exactness.
 */

const f32 = Math.fround;

const MT_N = 624;
const MT_M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const TWO_POW_32 = 2 ** 32;
const UINT64_MAX = (1n << 64n) - 1n;

/** Which float32 Box–Muller kernel torch ran for tensors of 16 or more elements. */
export type NormalKernel = 'avx2' | 'scalar';

export interface TorchGeneratorOptions {
  /** `'avx2'` (default) = every x86-64 CPU with AVX2; `'scalar'` = ARM64 / no AVX2. */
  kernel?: NormalKernel;
}

function toSeed(seed: number | bigint): bigint {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be an integer of at most 2^53-1 (use a bigint above that): ${seed}`);
  }
  const big = BigInt(seed);
  if (big < 0n || big > UINT64_MAX) throw new RangeError(`seed must be in [0, 2^64-1]: ${big}`);
  return big;
}

/** torch's CPU generator (`torch.Generator()`): mt19937 plus the cached normal sample. */
export class TorchGenerator {
  /** The full seed, as `torch.Generator.initial_seed()` reports it (only its low 32 bits seed mt19937). */
  readonly initialSeed: bigint;
  readonly kernel: NormalKernel;
  private readonly state = new Uint32Array(MT_N);
  private index = MT_N;
  private cachedNormal: number | undefined;

  constructor(seed: number | bigint, options: TorchGeneratorOptions = {}) {
    this.initialSeed = toSeed(seed);
    this.kernel = options.kernel ?? 'avx2';
    const s = this.state;
    s[0] = Number(this.initialSeed & 0xffffffffn);
    for (let j = 1; j < MT_N; j++) {
      const prev = s[j - 1];
      s[j] = Math.imul(1812433253, prev ^ (prev >>> 30)) + j;
    }
  }

  /** One 32-bit output of mt19937 (`CPUGeneratorImpl::random`). */
  random(): number {
    if (this.index >= MT_N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Two outputs joined high word first (`CPUGeneratorImpl::random64`). */
  random64(): bigint {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** `uniform_real_distribution<float>(0, 1)`: 24 low bits of one output, in [0, 1). */
  uniformFloat(): number {
    return (this.random() & 0xffffff) * 2 ** -24;
  }

  /** `uniform_real_distribution<double>(0, 1)`: 53 low bits of random64(), in [0, 1). */
  uniformDouble(): number {
    // Same as random64() & (2^53-1), without a BigInt: 21 bits of the high word, all of the low.
    const hi = this.random() & 0x1fffff;
    const lo = this.random();
    return (hi * TWO_POW_32 + lo) * 2 ** -53;
  }

  /** `normal_distribution<double>(0, 1)`: Box–Muller that hands out the sine half on the next call. */
  normalDouble(): number {
    const cached = this.cachedNormal;
    if (cached !== undefined) {
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `torch.randn(count, generator=this, dtype=torch.float32)`, advancing this generator. */
  randn(count: number): Float32Array {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad element count: ${count}`);
    const out = new Float32Array(count);
    if (count < 16) {
      for (let i = 0; i < count; i++) out[i] = this.normalDouble();
      return out;
    }
    const fill16 = this.kernel === 'avx2' ? boxMuller16Avx2 : boxMuller16Scalar;
    this.fillUniform(out, 0, count);
    for (let start = 0; start + 16 <= count; start += 16) fill16(out, start);
    if (count % 16 !== 0) {
      // torch redoes the ragged end as a full block over the last 16 slots, with new uniforms.
      this.fillUniform(out, count - 16, count);
      fill16(out, count - 16);
    }
    return out;
  }

  private fillUniform(out: Float32Array, from: number, to: number): void {
    for (let i = from; i < to; i++) out[i] = this.uniformFloat();
  }

  /**
   * Regenerates all 624 words (`next_state`). Indices wrap, so the later words mix with words
   * already regenerated in this pass, exactly as the reference algorithm does.
   */
  private twist(): void {
    const s = this.state;
    for (let k = 0; k < MT_N; k++) {
      const y = (s[k] & UPPER_MASK) | (s[(k + 1) % MT_N] & LOWER_MASK);
      s[k] = s[(k + MT_M) % MT_N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}

/** Convenience: `torch.randn(shape, generator=torch.Generator().manual_seed(seed))` as float32. */
export function randn(shape: readonly number[], seed: number | bigint, options?: TorchGeneratorOptions): Float32Array {
  const count = shape.reduce((n, d) => n * d, 1);
  return new TorchGenerator(seed, options).randn(count);
}

// ---- float32 arithmetic helpers -------------------------------------------------------------

/**
 * Single-rounding float32 fused multiply-add. a*b of two floats is exact in a double; the sum
 * p + c is then rounded twice (to double, then to float), which is only wrong when the double
 * lands exactly halfway between two floats while the exact sum does not, so fix that case.
 */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s) return r;
  const other = 2 * s - r; // the float on the far side of s, if s is exactly a midpoint
  if (f32(other) !== other) return r;
  const bv = s - p;
  const err = (p - (s - bv)) + (c - bv); // exact p + c = s + err
  if (err === 0) return r; // a true tie: keep round-half-even, which f32 already did
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

// Reinterpret float32 bits, for the exponent/mantissa split in the Cephes log.
const bitsF32 = new Float32Array(1);
const bitsI32 = new Int32Array(bitsF32.buffer);

// ---- the AVX2 kernel: avx_mathfun.h's log256_ps / sincos256_ps, one lane at a time ----------

const SQRT_HALF = f32(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.12194440e-4);
const LOG_Q2 = f32(0.693359375);

/** Cephes logf for x in (0, 1] as log256_ps computes it (x is never <= 0 or denormal here). */
function logAvx(x: number): number {
  bitsF32[0] = x;
  const bits = bitsI32[0];
  let e = (bits >>> 23) - 127 + 1; // exponent for a mantissa scaled into [0.5, 1)
  bitsI32[0] = (bits & ~0x7f800000) | 0x3f000000;
  let m = bitsF32[0];
  // Fold [0.5, sqrt(1/2)) up to [sqrt(1/2), 1) so the polynomial argument stays near 0.
  if (m < SQRT_HALF) {
    e -= 1;
    m = f32(f32(m - 1) + m);
  } else {
    m = f32(m - 1);
  }
  const z = f32(m * m);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, m, LOG_P[k]);
  y = f32(y * m);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = fmaf(z, -0.5, y);
  // log(x) = m + y + e*ln2, with ln2 split into Q2 + Q1 for extra precision.
  return fmaf(e, LOG_Q2, f32(m + y));
}

const FOUR_OVER_PI = f32(1.27323954473516);
const MINUS_DP1 = f32(-0.78515625);
const MINUS_DP2 = f32(-2.4187564849853515625e-4);
const MINUS_DP3 = f32(-3.77489497744594108e-8);
const SIN_P0 = f32(-1.9515295891e-4);
const SIN_P1 = f32(8.3321608736e-3);
const SIN_P2 = f32(-1.6666654611e-1);
const COS_P0 = f32(2.443315711809948e-5);
const COS_P1 = f32(-1.388731625493765e-3);
const COS_P2 = f32(4.166664568298827e-2);

// sincosAvx's two results, returned through module state to avoid an allocation per value.
let sinOut = 0;
let cosOut = 0;

/** Cephes sinf/cosf together, as sincos256_ps computes them, for x >= 0; sets sinOut/cosOut. */
function sincosAvx(x: number): void {
  // Octant j (rounded up to even) and x reduced by j*pi/4 in three float pieces.
  const j = (Math.trunc(f32(x * FOUR_OVER_PI)) + 1) & ~1;
  let r = fmaf(j, MINUS_DP1, x);
  r = fmaf(j, MINUS_DP2, r);
  r = fmaf(j, MINUS_DP3, r);
  const z = f32(r * r);
  let c = fmaf(COS_P0, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = f32(c * z);
  c = fmaf(c, z, f32(-f32(z * 0.5)));
  c = f32(c + 1);
  let s = fmaf(SIN_P0, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = f32(s * z);
  s = fmaf(s, r, r);
  // Octants 2, 3, 6, 7 swap the polynomials; the signs follow from j as in Cephes.
  const swap = (j & 2) !== 0;
  sinOut = (j & 4) !== 0 ? -(swap ? c : s) : (swap ? c : s);
  cosOut = ((j - 2) & 4) === 0 ? -(swap ? s : c) : (swap ? s : c);
}

const TWO_PI_F32 = f32(2 * Math.PI);

/** normal_fill_16_AVX2 for mean 0, std 1 (the final fmadd by 1 and 0 is then exact). */
function boxMuller16Avx2(d: Float32Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - d[o + j]); // [0, 1) -> (0, 1] so the log is finite
    const radius = f32(Math.sqrt(-2 * logAvx(u1)));
    sincosAvx(f32(TWO_PI_F32 * d[o + j + 8]));
    d[o + j] = radius * cosOut;
    d[o + j + 8] = radius * sinOut;
  }
}

/** normal_fill_16 in float32 with (correctly rounded) libm functions. */
function boxMuller16Scalar(d: Float32Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - d[o + j]);
    const radius = f32(Math.sqrt(-2 * f32(Math.log(u1))));
    const theta = f32(2 * Math.PI * d[o + j + 8]); // torch forms 2π·u2 in double, then rounds
    d[o + j] = radius * f32(Math.cos(theta));
    d[o + j + 8] = radius * f32(Math.sin(theta));
  }
}
