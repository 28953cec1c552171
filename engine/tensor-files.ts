import { readFile, writeFile } from 'node:fs/promises';
import { BYTES_PER_ELEMENT, elementCount, fromBFloat16Bits, shapeText, tensor, type DType, type Tensor, type TensorData } from './tensor.ts';

/**
 * Tensor files.
 *
 * safetensors (huggingface/safetensors, "format" in its README): an 8-byte little-endian
 * header length N, N bytes of JSON `{ "<name>": { "dtype": "F32", "shape": [...],
 * "data_offsets": [begin, end] }, "__metadata__"?: {...} }`, then the data, little-endian,
 * offsets relative to the end of the header. BF16 is read as float32 (onnxruntime-node
 * cannot take bf16 tensors).
 *
 * npy (numpy.lib.format): `\x93NUMPY`, version (1.0: 2-byte header length; 2.0/3.0: 4-byte),
 * then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }`
 * padded with spaces to a multiple of 64 bytes, then the C-order data.
 */

const SAFETENSORS_DTYPES: Record<string, DType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const SAFETENSORS_NAMES = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

const ARRAYS: Record<DType, { new (buffer: ArrayBuffer, offset: number, length: number): TensorData }> = {
  float32: Float32Array, float16: Uint16Array, float64: Float64Array, int64: BigInt64Array,
  int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

/** Copies little-endian bytes into a fresh, aligned typed array. */
function view(dtype: DType, bytes: Uint8Array, count: number): TensorData {
  const copy = new Uint8Array(count * BYTES_PER_ELEMENT[dtype]); // not bytes.slice: a Buffer's slice is a view
  copy.set(bytes.subarray(0, copy.length));
  return new ARRAYS[dtype](copy.buffer, 0, count);
}

export class TensorFileError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TensorFileError';
  }
}

interface HeaderEntry { dtype: string; shape: number[]; data_offsets: [number, number] }

export function parseSafetensors(bytes: Uint8Array, file = 'safetensors'): Map<string, Tensor> {
  if (bytes.length < 8) throw new TensorFileError(file, 'too short to be a safetensors file');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(dv.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw new TensorFileError(file, `header length ${headerLength} runs past the end of the file`);
  let header: Record<string, HeaderEntry>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new TensorFileError(file, `header is not JSON (${(e as Error).message}); not a safetensors file?`);
  }
  const data = bytes.subarray(8 + headerLength);
  const out = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets ?? [];
    const count = elementCount(entry.shape ?? []);
    const raw = data.subarray(begin, end);
    if (entry.dtype === 'BF16') {
      if (raw.length !== count * 2) throw new TensorFileError(file, `tensor "${name}" has ${raw.length} bytes for ${count} bf16 values`);
      out.set(name, tensor('float32', entry.shape, fromBFloat16Bits(view('float16', raw, count) as Uint16Array)));
      continue;
    }
    const dtype = SAFETENSORS_DTYPES[entry.dtype];
    if (!dtype) throw new TensorFileError(file, `tensor "${name}" has unsupported dtype ${entry.dtype}`);
    if (raw.length !== count * BYTES_PER_ELEMENT[dtype]) {
      throw new TensorFileError(file, `tensor "${name}" (${entry.dtype} ${shapeText(entry.shape)}) has ${raw.length} bytes, expected ${count * BYTES_PER_ELEMENT[dtype]}`);
    }
    out.set(name, tensor(dtype, entry.shape, view(dtype, raw, count)));
  }
  return out;
}

export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: SAFETENSORS_NAMES[t.dtype], shape: t.dims, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned, as the reference writer does
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

const NPY_DTYPES: Record<string, DType> = {
  '<f4': 'float32', '<f2': 'float16', '<f8': 'float64', '<i8': 'int64', '<i4': 'int32', '<i2': 'int16',
  '|i1': 'int8', '|u1': 'uint8', '|b1': 'bool',
};
const NPY_DESCR = Object.fromEntries(Object.entries(NPY_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

export function parseNpy(bytes: Uint8Array, file = 'npy'): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new TensorFileError(file, 'not a .npy file (bad magic)');
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLength, start] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText_ = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText_ === undefined) throw new TensorFileError(file, `cannot read the .npy header ${JSON.stringify(header)}`);
  const dtype = NPY_DTYPES[descr === '<b1' ? '|b1' : descr];
  if (!dtype) throw new TensorFileError(file, `unsupported .npy dtype ${descr} (supported: ${Object.keys(NPY_DTYPES).join(', ')}, little-endian)`);
  if (fortran === 'True') throw new TensorFileError(file, 'Fortran-ordered arrays are not supported: save with np.ascontiguousarray');
  const dims = shapeText_.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = elementCount(dims);
  const raw = bytes.subarray(start + headerLength);
  if (raw.length < count * BYTES_PER_ELEMENT[dtype]) throw new TensorFileError(file, `data is shorter than its shape ${shapeText(dims)} needs`);
  return tensor(dtype, dims, view(dtype, raw, count));
}

export function serializeNpy(t: Tensor): Uint8Array {
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '${NPY_DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // total header a multiple of 64
  const headerBytes = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + headerBytes.length + t.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, headerBytes.length, true);
  out.set(headerBytes, 10);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), 10 + headerBytes.length);
  return out;
}

/** Reads a .safetensors or .npy file (by extension); a .npy file holds one tensor, named `key`. */
export async function readTensorFile(file: string): Promise<Map<string, Tensor> & { format: 'safetensors' | 'npy' }> {
  const bytes = new Uint8Array(await readFile(file));
  if (file.toLowerCase().endsWith('.npy')) return Object.assign(new Map([['', parseNpy(bytes, file)]]), { format: 'npy' as const });
  if (file.toLowerCase().endsWith('.safetensors')) return Object.assign(parseSafetensors(bytes, file), { format: 'safetensors' as const });
  throw new TensorFileError(file, 'expected a .safetensors or .npy file');
}

export async function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(file, serializeSafetensors(tensors, metadata));
}
