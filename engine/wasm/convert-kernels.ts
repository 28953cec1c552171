import { Code, moduleBytes, Op, ValType } from './encoder.ts';

/**
 * Element type conversions as WebAssembly SIMD kernels.
 *
 * float32 ↔ IEEE half, four lanes of integer arithmetic on
 * the bit patterns (no float16 instructions exist in WebAssembly). An fp16 model's input and
 * output cross these every sampler step on the host path, and a decoded image once (10⁵–10⁷
 * values), where the scalar loops take 1.5–4 ns a value. Results are bit-identical to
 * `toHalfBits`/`fromHalfBits` (tested over every half and every float32 class).
 *
 * float32 → half, round to nearest even, per lane (a = |x| bits):
 *   a ≥ 0x47800000 (≥ 65520, inf, NaN): 0x7c00, or 0x7e00 when NaN
 *   a ≥ 0x38800000 (a normal half):      (a − 0x38000000 + 0xfff + ((a >> 13) & 1)) >> 13
 *   else (a subnormal half or zero):     bits(f32(a) + 0.5) − 0x3f000000
 *   then | the sign (x >> 16 & 0x8000); two vectors of results narrow into one of eight halves.
 * half → float32 (exact), per lane (h widened to 32 bits; "Half to float" by F. Giesen):
 *   o = (h & 0x7fff) << 13;  e = o & 0x0f800000;  o += 0x38000000
 *   e = 0x0f800000 (inf/NaN): o += 0x38000000
 *   e = 0 (zero/subnormal):   o = bits(f32(o + 0x00800000) − 2⁻¹⁴)
 *   then | (h & 0x8000) << 16.
 */
const S = {
  i32x4Splat: 0x11, v128And: 0x4e, v128Or: 0x50, v128Bitselect: 0x52,
  i32x4Eq: 0x37, i32x4GtS: 0x3b, i32x4GeS: 0x3f,
  i16x8NarrowI32x4U: 0x86, i32x4ExtendLowI16x8U: 0xa9, i32x4ExtendHighI16x8U: 0xaa,
  i32x4Shl: 0xab, i32x4ShrU: 0xad, i32x4Add: 0xae, i32x4Sub: 0xb1,
  f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Nearest: 0x6a, f32x4Splat: 0x13,
  i32x4TruncSatF32x4S: 0xf8, i16x8NarrowI32x4S: 0x85, i8x16NarrowI16x8U: 0x66, i8x16Sub: 0x71,
} as const;

/** Values per call: the memory holds one chunk in and out (1.5 MiB), small enough to stay cached. */
const CHUNK = 1 << 17;
// One page more than the chunks: a kernel's last vector may reach 15 bytes past its region.
const memory = new WebAssembly.Memory({ initial: Math.ceil((CHUNK * 6) / 65536) + 1 });
const f32View = new Float32Array(memory.buffer);
const u16View = new Uint16Array(memory.buffer);
/** Byte offsets: float32 values at 0, halves after them. */
const HALVES_AT = CHUNK * 4;

function instantiate(body: Code, locals: number): (count: number) => void {
  const module = new WebAssembly.Module(moduleBytes({ params: [ValType.i32], locals: Array(locals).fill(ValType.v128).concat([ValType.i32]), body }));
  return new WebAssembly.Instance(module, { env: { memory } }).exports.run as (count: number) => void;
}

/** Emits `local = splat(value)` for each constant, before the loop. */
function constants(code: Code, values: readonly number[], firstLocal: number): void {
  values.forEach((v, i) => code.i32(v | 0).simd(S.i32x4Splat).set(firstLocal + i));
}

/** `block loop (if i >= count: break) body; i += step; br 0 end end`: i counts values, param 0 is the count. */
function loop(code: Code, i: number, valuesPerIteration: number, body: () => void): void {
  code.op(Op.block, Op.void, Op.loop, Op.void);
  code.get(i).get(0).op(Op.i32GeU, Op.brIf, 1);
  body();
  code.get(i).i32(valuesPerIteration).op(Op.i32Add).set(i).op(Op.br, 0, Op.end, Op.end);
}

const I32_SHL = 0x74;
const I32_SUB = 0x6b;
/** Pushes the byte address (i << shift) + base. */
const address = (code: Code, i: number, shift: number, base: number) => code.get(i).i32(shift).op(I32_SHL).i32(base).op(Op.i32Add);

let toHalf: ((count: number) => void) | undefined;
let toFloat: ((count: number) => void) | undefined;
let toBytes: ((count: number, scale: number) => void) | undefined;
let deltas: ((count: number, lag: number) => void) | undefined;

function compileToHalf(): (count: number) => void {
  const code = new Code();
  // locals after param 0: v128 × 12 (x, a, r0, r1 ... constants), then i (i32)
  const [x, a, r0, sign, c8000, c7fff, cBig, cNormal, cBias, , cOne, cHalfF] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [cInf, cNan, cNanBits, cSubBias] = [13, 14, 15, 16];
  const i = 17;
  constants(code, [0x8000, 0x7fffffff, 0x47800000 - 1, 0x38800000 - 1, -0x38000000 + 0xfff, 0, 1, 0x3f000000], c8000);
  constants(code, [0x7c00, 0x7e00, 0x7f800000, 0x3f000000], cInf);
  /** Converts 4 floats at byte offset (i*4 + offset) and leaves the 4 results (i32 lanes) in `out`. */
  const convert = (offset: number, out: number) => {
    address(code, i, 2, offset).load().set(x);
    // sign = (x >> 16) & 0x8000
    code.get(x).i32(16).simd(S.i32x4ShrU).get(c8000).simd(S.v128And).set(sign);
    // a = x & 0x7fffffff
    code.get(x).get(c7fff).simd(S.v128And).set(a);
    // overflow, inf, NaN (kept on the stack for the last select)
    code.get(cNan).get(cInf).get(a).get(cNanBits).simd(S.i32x4GtS).simd(S.v128Bitselect);
    // normal: (a + (0xfff − 0x38000000) + ((a >> 13) & 1)) >> 13
    code.get(a).get(cBias).simd(S.i32x4Add)
      .get(a).i32(13).simd(S.i32x4ShrU).get(cOne).simd(S.v128And).simd(S.i32x4Add)
      .i32(13).simd(S.i32x4ShrU);
    // subnormal: bits(f32(a) + 0.5) − 0x3f000000
    code.get(a).get(cHalfF).simd(S.f32x4Add).get(cSubBias).simd(S.i32x4Sub);
    // a > 0x38800000 − 1: normal
    code.get(a).get(cNormal).simd(S.i32x4GtS).simd(S.v128Bitselect);
    // a > 0x47800000 − 1: the overflow result
    code.get(a).get(cBig).simd(S.i32x4GtS).simd(S.v128Bitselect);
    code.get(sign).simd(S.v128Or).set(out);
  };
  loop(code, i, 8, () => {
    convert(0, r0);
    convert(16, a); // a is free again once the first result is in r0
    // store narrow(r0, second) at HALVES_AT + i*2
    address(code, i, 1, HALVES_AT).get(r0).get(a).simd(S.i16x8NarrowI32x4U).store();
  });
  return instantiate(code, 16);
}

function compileToFloat(): (count: number) => void {
  const code = new Code();
  const [h, o, e, t, c7fff, c8000, cExp, cBias, cOne23, cMagic] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const i = 11;
  constants(code, [0x7fff, 0x8000, 0x0f800000, 0x38000000, 0x00800000, 0x38800000], c7fff);
  /** Converts the 4 widened halves in `h` and stores them at byte offset i*4 + offset. */
  const convert = (offset: number) => {
    address(code, i, 2, offset);
    // o = (h & 0x7fff) << 13; e = o & 0x0f800000; o += 0x38000000
    code.get(h).get(c7fff).simd(S.v128And).i32(13).simd(S.i32x4Shl).set(o);
    code.get(o).get(cExp).simd(S.v128And).set(e);
    code.get(o).get(cBias).simd(S.i32x4Add).set(o);
    // inf/NaN: o += 0x38000000 where e == 0x0f800000
    code.get(o).get(e).get(cExp).simd(S.i32x4Eq).get(cBias).simd(S.v128And).simd(S.i32x4Add).set(o);
    // zero/subnormal: f32(o + 0x00800000) − 2⁻¹⁴ where e == 0
    code.get(o).get(cOne23).simd(S.i32x4Add).get(cMagic).simd(S.f32x4Sub)
      .get(o)
      .get(e).i32(0).simd(S.i32x4Splat).simd(S.i32x4Eq)
      .simd(S.v128Bitselect);
    // | sign
    code.get(h).get(c8000).simd(S.v128And).i32(16).simd(S.i32x4Shl).simd(S.v128Or);
    code.store();
  };
  loop(code, i, 8, () => {
    // load 8 halves at HALVES_AT + i*2
    address(code, i, 1, HALVES_AT).load().set(t);
    code.get(t).simd(S.i32x4ExtendLowI16x8U).set(h);
    convert(0);
    code.get(t).simd(S.i32x4ExtendHighI16x8U).set(h);
    convert(16);
  });
  return instantiate(code, 10);
}

/**
 * float32 × scale → bytes: round to nearest even (f32x4.nearest, as numpy's round), then clamped
 * to [0, 255] (NaN → 0). Reads float32 at 0, writes bytes at HALVES_AT.
 */
function compileToBytes(): (count: number, scale: number) => void {
  const code = new Code();
  // params: count (0), scale (1, f32); locals: v128 scale (2), v128 × 4 (3–6), i (7)
  const [vScale, a, b, c, d] = [2, 3, 4, 5, 6];
  const i = 7;
  code.op(Op.localGet, 1).simd(S.f32x4Splat).set(vScale);
  const lane = (offset: number, out: number) => {
    address(code, i, 2, offset).load().get(vScale).simd(S.f32x4Mul).simd(S.f32x4Nearest).simd(S.i32x4TruncSatF32x4S).set(out);
  };
  loop(code, i, 16, () => {
    lane(0, a); lane(16, b); lane(32, c); lane(48, d);
    address(code, i, 0, HALVES_AT);
    code.get(a).get(b).simd(S.i16x8NarrowI32x4S).get(c).get(d).simd(S.i16x8NarrowI32x4S).simd(S.i8x16NarrowI16x8U).store();
  });
  const module = new WebAssembly.Module(moduleBytes({ params: [ValType.i32, ValType.f32], locals: [ValType.v128, ValType.v128, ValType.v128, ValType.v128, ValType.v128, ValType.i32], body: code }));
  return new WebAssembly.Instance(module, { env: { memory } }).exports.run as (count: number, scale: number) => void;
}

/** Bytes of float32 values × scale, rounded to nearest even and clamped to [0, 255] (NaN → 0). */
export function floatsToBytes(src: Float32Array, scale: number, out: Uint8Array): Uint8Array {
  toBytes ??= compileToBytes();
  const bytes = new Uint8Array(memory.buffer);
  for (let at = 0; at < src.length; at += CHUNK) {
    const n = Math.min(CHUNK, src.length - at);
    f32View.set(src.subarray(at, at + n));
    toBytes(n, scale);
    out.set(bytes.subarray(HALVES_AT, HALVES_AT + n), at);
  }
  return out;
}

/** Where byteDeltas reads: 16 bytes in, after bytes that stay zero (what the first `lag` bytes subtract). */
const DELTAS_IN = 16;

/** out[i] = in[i] − in[i − lag] (mod 256), 16 bytes a vector: in at DELTAS_IN, out at HALVES_AT. */
function compileDeltas(): (count: number, lag: number) => void {
  const code = new Code();
  // params: count (0), lag (1); locals: i (2)
  const i = 2;
  code.op(Op.block, Op.void, Op.loop, Op.void);
  code.get(i).get(0).op(Op.i32GeU, Op.brIf, 1);
  address(code, i, 0, HALVES_AT);
  address(code, i, 0, DELTAS_IN).load();
  address(code, i, 0, DELTAS_IN).get(1).op(I32_SUB).load();
  code.simd(S.i8x16Sub).store();
  code.get(i).i32(16).op(Op.i32Add).set(i).op(Op.br, 0, Op.end, Op.end);
  const module = new WebAssembly.Module(moduleBytes({ params: [ValType.i32, ValType.i32], locals: [ValType.i32], body: code }));
  return new WebAssembly.Instance(module, { env: { memory } }).exports.run as (count: number, lag: number) => void;
}

/**
 * PNG's Sub filter (https://www.w3.org/TR/png/#9Filter-types) of `height` rows of `stride` bytes:
 * each output row is the filter type byte 1, then every byte minus the byte `lag` (bytes per pixel)
 * to its left, mod 256 (the first pixel's bytes as they are). `out` holds (stride + 1) × height.
 */
export function subFilterRows(data: Uint8Array, stride: number, height: number, lag: number, out: Uint8Array): Uint8Array {
  deltas ??= compileDeltas();
  const bytes = new Uint8Array(memory.buffer);
  const rowsPerCall = Math.max(1, Math.floor((CHUNK * 2) / stride));
  if (stride > CHUNK * 2) throw new RangeError(`rows of ${stride} bytes are wider than the filter's ${CHUNK * 2}`);
  for (let y0 = 0; y0 < height; y0 += rowsPerCall) {
    const rows = Math.min(rowsPerCall, height - y0);
    bytes.set(data.subarray(y0 * stride, (y0 + rows) * stride), DELTAS_IN);
    deltas(rows * stride, lag);
    for (let r = 0; r < rows; r++) {
      const from = (y0 + r) * stride;
      const to = (y0 + r) * (stride + 1);
      out[to] = 1;
      out.set(bytes.subarray(HALVES_AT + r * stride, HALVES_AT + (r + 1) * stride), to + 1);
      for (let k = 0; k < lag; k++) out[to + 1 + k] = data[from + k]; // its left neighbour is the previous row's
    }
  }
  return out;
}

/** float32 values → half bits, round to nearest even. */
export function floatsToHalves(src: Float32Array, out: Uint16Array): Uint16Array {
  toHalf ??= compileToHalf();
  for (let at = 0; at < src.length; at += CHUNK) {
    const n = Math.min(CHUNK, src.length - at);
    f32View.set(src.subarray(at, at + n));
    toHalf(n); // whole vectors of 8: the lanes past n read stale values and are not copied out
    out.set(u16View.subarray(HALVES_AT / 2, HALVES_AT / 2 + n), at);
  }
  return out;
}

/** Half bits → float32 values (exact). */
export function halvesToFloats(src: Uint16Array, out: Float32Array): Float32Array {
  toFloat ??= compileToFloat();
  for (let at = 0; at < src.length; at += CHUNK) {
    const n = Math.min(CHUNK, src.length - at);
    u16View.set(src.subarray(at, at + n), HALVES_AT / 2);
    toFloat(n);
    out.set(f32View.subarray(0, n), at);
  }
  return out;
}
