/**
 * Just enough of the WebAssembly binary format to emit small SIMD kernels at run time
 * (https://webassembly.github.io/spec/core/binary/): one function per module, importing the
 * caller's memory. Used by `engine/elementwise.ts`.
 */

export const ValType = { i32: 0x7f, f32: 0x7d, v128: 0x7b } as const;
export type ValType = (typeof ValType)[keyof typeof ValType];

/** The opcodes the kernels use. SIMD instructions are `0xfd` followed by a LEB128 opcode. */
export const Op = {
  block: 0x02, loop: 0x03, end: 0x0b, br: 0x0c, brIf: 0x0d,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Const: 0x41, i32GeU: 0x4f, i32Add: 0x6a,
  void: 0x40,
} as const;

export const SimdOp = {
  v128Load: 0x00, v128Store: 0x0b, v128Const: 0x0c, i8x16Shuffle: 0x0d, f32x4Splat: 0x13,
  f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Div: 0xe7, f32x4Pmin: 0xea, f32x4Pmax: 0xeb,
} as const;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const name = (s: string): number[] => [...uleb(utf8(s).length), ...utf8(s)];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** Appends instructions to a function body. */
export class Code {
  readonly bytes: number[] = [];

  op(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }

  simd(op: number, ...immediates: number[]): this {
    return this.op(0xfd, ...uleb(op), ...immediates);
  }

  /** v128.load / v128.store with a 16-byte alignment hint and no offset. */
  load(): this { return this.simd(SimdOp.v128Load, 4, 0); }
  store(): this { return this.simd(SimdOp.v128Store, 4, 0); }

  get(local: number): this { return this.op(Op.localGet, ...uleb(local)); }
  set(local: number): this { return this.op(Op.localSet, ...uleb(local)); }
  tee(local: number): this { return this.op(Op.localTee, ...uleb(local)); }
  i32(value: number): this { return this.op(Op.i32Const, ...sleb(value)); }
}

export interface FunctionSpec {
  params: ValType[];
  /** Extra locals, after the params, in order. */
  locals: ValType[];
  body: Code;
}

/** A module importing `env.memory` and exporting one function, `run`, with no results. */
export function moduleBytes(fn: FunctionSpec): Uint8Array {
  const type = [0x60, ...uleb(fn.params.length), ...fn.params, 0];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)];
  const localDecls = fn.locals.map((t) => [1, t]);
  const body = [...vec(localDecls), ...fn.body.bytes, Op.end];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, vec([type])),
    ...section(2, vec([memoryImport])),
    ...section(3, vec([uleb(0)])),
    ...section(7, vec([[...name('run'), 0x00, ...uleb(0)]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}
