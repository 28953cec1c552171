import { floatsToHalves, halvesToFloats } from './wasm/convert-kernels.ts';

/**
 * A minimal n-dimensional array: element type, dims and a typed array in row-major order.
 * float16 values are kept as IEEE half bit patterns in a Uint16Array (Node 20 has no
 * Float16Array, and onnxruntime-node takes fp16 tensors in that form).
 */
export type DType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor<D extends TensorData = TensorData> {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: D;
}

export type Float32Tensor = Tensor<Float32Array>;

const ARRAY_OF: Record<DType, new (n: number) => TensorData> = {
  float32: Float32Array, float16: Uint16Array, float64: Float64Array, int64: BigInt64Array,
  int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4, float16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function shapeText(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Makes a tensor, checking that the data fits the dims and the dtype. */
export function tensor<D extends TensorData>(dtype: DType, dims: readonly number[], data: D): Tensor<D> {
  // Plain loops: every node result passes here, several times per sampler step.
  let count = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor dims ${shapeText(dims)}`);
    count *= d;
  }
  if (!(data instanceof ARRAY_OF[dtype])) throw new Error(`${dtype} tensor data must be a ${ARRAY_OF[dtype].name}, got ${data.constructor.name}`);
  if (data.length !== count) throw new Error(`tensor of dims ${shapeText(dims)} needs ${count} values, got ${data.length}`);
  return { dtype, dims: dims.slice(), data };
}

export function float32(dims: readonly number[], data: Float32Array = new Float32Array(elementCount(dims))): Float32Tensor {
  return tensor('float32', dims, data);
}

// ---- float16 ---------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, rounding to nearest even (as numpy/torch `.half()` do). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000; // subnormal half: shift the implicit bit in
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Rounding may carry into the exponent, which is still the right answer (up to inf).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Bulk conversions (an fp16 model's inputs and outputs every sampler step, a decoded image): the
 * WebAssembly SIMD kernels of wasm/convert-kernels.ts, with the same results as
 * `toHalfBits`/`fromHalfBits` value by value.
 */
export { floatsToBytes, floatsToHalves, halvesToFloats } from './wasm/convert-kernels.ts';

/** bfloat16 bits → float32 (the top 16 bits of a float32). */
export function fromBFloat16Bits(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

// ---- conversions -----------------------------------------------------------------------

/** Any tensor's values as float32 (what nodes compute with). */
export function asFloat32(t: Tensor): Float32Tensor {
  if (t.dtype === 'float32') return t as Float32Tensor;
  const out = new Float32Array(t.data.length);
  if (t.dtype === 'float16') {
    halvesToFloats(t.data as Uint16Array, out);
  } else if (t.dtype === 'int64') {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    const src = t.data as Exclude<TensorData, BigInt64Array | Uint16Array>;
    for (let i = 0; i < src.length; i++) out[i] = src[i];
  }
  return float32(t.dims, out);
}

/** Converts a tensor to another element type (as a model input declares it). */
export function castTo(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  const src = asFloat32(t).data;
  const out = new ARRAY_OF[dtype](src.length);
  if (dtype === 'float16') {
    floatsToHalves(src, out as Uint16Array);
  } else if (dtype === 'int64') {
    const o = out as BigInt64Array;
    for (let i = 0; i < src.length; i++) o[i] = BigInt(Math.round(src[i]));
  } else if (dtype === 'bool') {
    for (let i = 0; i < src.length; i++) (out as Uint8Array)[i] = src[i] !== 0 ? 1 : 0;
  } else if (dtype === 'float64') {
    (out as Float64Array).set(src);
  } else {
    const o = out as Int32Array; // any of the integer arrays
    for (let i = 0; i < src.length; i++) o[i] = Math.round(src[i]);
  }
  return tensor(dtype, t.dims, out);
}
