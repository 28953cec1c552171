/**
 * A typed builder for small ONNX graphs with deterministic, seeded weights.
 *
 * Values are plain strings (ONNX value names). Every initializer drawn from the PRNG is drawn
 * in creation order, so the same builder code with the same seed yields byte-identical models,
 * and an fp16 build holds exactly the fp16 roundings of the fp32 build's weights.
 */
import {
  DataType, encodeModel,
  type AttributeProto, type AttributeValue, type DataTypeCode, type Dim, type ModelProto,
  type NodeProto, type TensorProto, type ValueInfoProto,
} from './protobuf-writer.ts';
import { fromHalfBits as f16BitsToF32, toHalfBits as f32ToF16Bits } from '../tensor.ts';

export type FloatType = 'float32' | 'float16';
export type ElemType = FloatType | 'int64' | 'int32' | 'bool';

const ELEM_CODES: Record<ElemType, DataTypeCode> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
};

export function elemCode(t: ElemType): DataTypeCode {
  return ELEM_CODES[t];
}

// ---------------------------------------------------------------------------------------------
// PRNG and fp16 helpers

/** mulberry32: a tiny, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** onnxruntime-node on Node 20 has no Float16Array: fp16 tensors are Uint16Array bit patterns. */
export function toF16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}

export function fromF16Array(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attributes

/**
 * A JS number is ambiguous between ONNX INT and FLOAT attributes. Plain numbers are INT (and
 * must be integers); wrap floats with `f(x)` and float lists with `fs([...])`.
 */
export class FloatAttr { constructor(readonly value: number) {} }
export class FloatsAttr { constructor(readonly value: readonly number[]) {} }
export const f = (x: number): FloatAttr => new FloatAttr(x);
export const fs = (xs: readonly number[]): FloatsAttr => new FloatsAttr(xs);
export type Attr = number | bigint | string | readonly number[] | FloatAttr | FloatsAttr | TensorProto;
export type Attrs = Readonly<Record<string, Attr>>;

function toAttributeValue(name: string, a: Attr): AttributeValue {
  if (a instanceof FloatAttr) return { kind: 'float', value: a.value };
  if (a instanceof FloatsAttr) return { kind: 'floats', value: a.value };
  if (typeof a === 'bigint') return { kind: 'int', value: a };
  if (typeof a === 'string') return { kind: 'string', value: a };
  if (typeof a === 'number') {
    if (!Number.isInteger(a)) throw new Error(`attribute ${name}=${a}: use f(x) for FLOAT attributes`);
    return { kind: 'int', value: a };
  }
  if (Array.isArray(a)) {
    if (!a.every(Number.isInteger)) throw new Error(`attribute ${name}: use fs([...]) for FLOATS`);
    return { kind: 'ints', value: a };
  }
  return { kind: 'tensor', value: a as TensorProto };
}

// ---------------------------------------------------------------------------------------------
// Tensor bytes

function floatBytes(type: FloatType, values: ArrayLike<number>): Uint8Array {
  const arr = type === 'float16' ? toF16Array(values) : Float32Array.from(values);
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

function tensorBytes(type: ElemType, values: ArrayLike<number>): Uint8Array {
  switch (type) {
    case 'float32':
    case 'float16':
      return floatBytes(type, values);
    case 'int64': {
      const a = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
      return new Uint8Array(a.buffer);
    }
    case 'int32': return new Uint8Array(Int32Array.from(values).buffer);
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
  }
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------------------------
// Builder

export interface GraphBuilderOptions {
  seed: number;
  /** Default opset 17; ORT 1.30 loads up to 26. The forms of ReduceMean etc. follow the opset. */
  opset?: number;
  /** The dtype of weights and of `constFloat`; fp16 graphs keep their activations in fp16. */
  floatType?: FloatType;
  name?: string;
}

export interface BuildOptions {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

export type Init =
  /** uniform in [center - bound, center + bound] */
  | { kind: 'uniform'; bound: number; center?: number }
  | { kind: 'normal'; std: number }
  | { kind: 'const'; value: number };

export class GraphBuilder {
  readonly opset: number;
  readonly floatType: FloatType;
  readonly name: string;
  private readonly rand: () => number;
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private readonly scopes: string[] = [];
  /** Non-default op domains used (e.g. com.microsoft), imported at version 1. */
  private readonly domains = new Set<string>();
  private counter = 0;

  constructor(opts: GraphBuilderOptions) {
    this.opset = opts.opset ?? 17;
    if (this.opset < 17) throw new Error('GraphBuilder needs opset >= 17 (LayerNormalization)');
    this.floatType = opts.floatType ?? 'float32';
    this.name = opts.name ?? 'graph';
    this.rand = mulberry32(opts.seed);
  }

  // -- naming ---------------------------------------------------------------------------------

  /** Runs `fn` with a name prefix, so weights read like `blocks.0.attn1.to_q.weight`. */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private qualified(base: string): string {
    return [...this.scopes, base].join('.');
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`duplicate value name ${name}`);
    this.names.add(name);
    return name;
  }

  private fresh(base: string): string {
    let name: string;
    do name = `${this.qualified(base)}_${this.counter++}`; while (this.names.has(name));
    return this.claim(name);
  }

  // -- graph I/O ------------------------------------------------------------------------------

  /** `shape` null: any rank. */
  input(name: string, type: ElemType, shape: readonly Dim[] | null): string {
    this.inputs.push({ name: this.claim(name), elemType: elemCode(type), shape });
    return name;
  }

  /** Declares a graph output named `name`, fed from `value` (via Identity when renaming). */
  output(value: string, name: string, type: ElemType, shape: readonly Dim[] | null): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [this.claim(name)], name: `${name}_identity` });
    this.outputs.push({ name, elemType: elemCode(type), shape });
  }

  // -- nodes ----------------------------------------------------------------------------------

  /** Adds a node; pass '' for an omitted optional input. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, nOutputs = 1, domain = ''): string[] {
    const outputs = Array.from({ length: nOutputs }, () => this.fresh(opType));
    const attributes: AttributeProto[] = Object.entries(attrs).map(([n, a]) => ({ name: n, value: toAttributeValue(n, a) }));
    if (domain) this.domains.add(domain);
    this.nodes.push({ opType, inputs, outputs, name: outputs[0], attributes, ...(domain ? { domain } : {}) });
    return outputs;
  }

  op1(opType: string, inputs: readonly string[], attrs: Attrs = {}): string {
    return this.op(opType, inputs, attrs, 1)[0];
  }

  // -- initializers ---------------------------------------------------------------------------

  /** Adds a named initializer with explicit values. */
  tensor(base: string, type: ElemType, dims: readonly number[], values: ArrayLike<number>): string {
    if (values.length !== product(dims)) throw new Error(`${base}: ${values.length} values for dims [${dims}]`);
    const name = this.claim(this.qualified(base));
    this.initializers.push({ name, dataType: elemCode(type), dims, rawData: tensorBytes(type, values) });
    return name;
  }

  /** A learned parameter in the graph's float type, drawn from the seeded PRNG. */
  param(base: string, dims: readonly number[], init: Init): string {
    const n = product(dims);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = this.sample(init);
    return this.tensor(base, this.floatType, dims, values);
  }

  private sample(init: Init): number {
    switch (init.kind) {
      case 'const': return init.value;
      case 'uniform': return (init.center ?? 0) + (this.rand() * 2 - 1) * init.bound;
      case 'normal': {
        // Box–Muller; 1 - u keeps log() finite.
        const u = 1 - this.rand();
        const v = this.rand();
        return init.std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      }
    }
  }

  /** Deduplicated constant (shapes, axes, epsilons…); a scalar when `dims` is []. */
  constant(type: ElemType, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${type}|${dims.join(',')}|${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.claim(`const_${this.constCache.size}_${type}`);
    this.initializers.push({ name, dataType: elemCode(type), dims, rawData: tensorBytes(type, values) });
    this.constCache.set(key, name);
    return name;
  }

  constI64(values: readonly number[], dims?: readonly number[]): string {
    return this.constant('int64', values, dims);
  }

  /** A constant in the graph's float type. */
  constFloat(values: readonly number[], dims?: readonly number[]): string {
    return this.constant(this.floatType, values, dims);
  }

  scalar(value: number): string {
    return this.constFloat([value], []);
  }

  // -- opset-aware op forms ---------------------------------------------------------------------

  reduceMean(x: string, axes: readonly number[], keepdims = 1): string {
    // Opset 18 moved `axes` from an attribute to an input.
    return this.opset >= 18
      ? this.op1('ReduceMean', [x, this.constI64(axes)], { keepdims })
      : this.op1('ReduceMean', [x], { axes, keepdims });
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op1('Unsqueeze', [x, this.constI64(axes)]);
  }

  /** Split with explicit sizes (an int64 input since opset 13). */
  split(x: string, axis: number, sizes: readonly number[]): string[] {
    return this.op('Split', [x, this.constI64(sizes)], { axis }, sizes.length);
  }

  reshape(x: string, shape: readonly number[] | string): string {
    return this.op1('Reshape', [x, typeof shape === 'string' ? shape : this.constI64(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op1('Transpose', [x], { perm });
  }

  cast(x: string, to: ElemType): string {
    return this.op1('Cast', [x], { to: elemCode(to) });
  }

  add(a: string, b: string): string { return this.op1('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op1('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op1('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op1('Div', [a, b]); }
  matmul(a: string, b: string): string { return this.op1('MatMul', [a, b]); }

  // -- layers -----------------------------------------------------------------------------------

  /** y = x·W + b with W stored [in, out] and PyTorch's default bound 1/sqrt(in). */
  linear(x: string, inF: number, outF: number, opts: { bias?: boolean; name?: string; gain?: number } = {}): string {
    return this.scope(opts.name ?? 'linear', () => {
      const bound = (opts.gain ?? 1) / Math.sqrt(inF);
      const w = this.param('weight', [inF, outF], { kind: 'uniform', bound });
      const y = this.matmul(x, w);
      if (opts.bias === false) return y;
      return this.add(y, this.param('bias', [outF], { kind: 'uniform', bound }));
    });
  }

  /** NCHW convolution, 'same' padding for odd kernels; `group` = channels gives a depthwise conv. */
  conv2d(x: string, inC: number, outC: number, k: number, opts: { group?: number; bias?: boolean; name?: string; gain?: number } = {}): string {
    const group = opts.group ?? 1;
    return this.scope(opts.name ?? 'conv', () => {
      const fanIn = (inC / group) * k * k;
      const bound = (opts.gain ?? 1) / Math.sqrt(fanIn);
      const w = this.param('weight', [outC, inC / group, k, k], { kind: 'uniform', bound });
      const inputs = [x, w];
      if (opts.bias !== false) inputs.push(this.param('bias', [outC], { kind: 'uniform', bound }));
      const p = (k - 1) / 2;
      return this.op1('Conv', inputs, { kernel_shape: [k, k], pads: [p, p, p, p], strides: [1, 1], dilations: [1, 1], group });
    });
  }

  sigmoid(x: string): string { return this.op1('Sigmoid', [x]); }
  relu(x: string): string { return this.op1('Relu', [x]); }

  /** SiLU written as x·σ(x): there is no SiLU op before opset 24's Swish. */
  silu(x: string): string {
    return this.mul(x, this.sigmoid(x));
  }

  /** GELU, tanh approximation (torch approximate="tanh"), spelled out: Gelu needs opset 20. */
  geluTanh(x: string): string {
    const x3 = this.mul(this.mul(x, x), x);
    const inner = this.mul(this.add(x, this.mul(x3, this.scalar(0.044715))), this.scalar(Math.sqrt(2 / Math.PI)));
    const t = this.add(this.op1('Tanh', [inner]), this.scalar(1));
    return this.mul(this.mul(x, t), this.scalar(0.5));
  }

  /** LayerNorm over the last axis; `affine: false` (Sana's norms) still needs a Scale input of ones. */
  layerNorm(x: string, dim: number, eps: number, opts: { affine?: boolean; name?: string } = {}): string {
    return this.scope(opts.name ?? 'norm', () => {
      const scale = opts.affine
        ? this.param('weight', [dim], { kind: 'const', value: 1 })
        : this.constFloat(new Array<number>(dim).fill(1));
      const inputs = [x, scale];
      if (opts.affine) inputs.push(this.param('bias', [dim], { kind: 'const', value: 0 }));
      return this.op1('LayerNormalization', inputs, { axis: -1, epsilon: f(eps) });
    });
  }

  /**
   * RMSNorm: x / sqrt(mean(x², axis) + eps) · scale. `weight: 'gemma'` uses (1 + w) as
   * Gemma does; `axis: 1` normalises the channels of an NCHW tensor (DC-AE), no transposes.
   */
  rmsNorm(x: string, dim: number, opts: { eps: number; axis?: number; weight?: 'plain' | 'gemma' | 'none'; bias?: boolean; name?: string }): string {
    return this.scope(opts.name ?? 'norm', () => {
      const axis = opts.axis ?? -1;
      const ms = this.reduceMean(this.mul(x, x), [axis]);
      let y = this.div(x, this.op1('Sqrt', [this.add(ms, this.scalar(opts.eps))]));
      const kind = opts.weight ?? 'plain';
      if (kind === 'none') return y;
      // Per-channel parameters broadcast along `axis`: shape [C] for the last axis, [C,1,1] for NCHW.
      const dims = axis === -1 ? [dim] : [dim, 1, 1];
      // Weights near their usual init (ones for 'plain', zeros for Gemma's 1 + w) but random,
      // so tests can see that they matter.
      const w = kind === 'gemma'
        ? this.add(this.scalar(1), this.param('weight', dims, { kind: 'uniform', bound: 0.1 }))
        : this.param('weight', dims, { kind: 'uniform', bound: 0.1, center: 1 });
      y = this.mul(y, w);
      if (opts.bias) y = this.add(y, this.param('bias', dims, { kind: 'uniform', bound: 0.1 }));
      return y;
    });
  }

  // -- output ---------------------------------------------------------------------------------

  build(opts: BuildOptions = {}): ModelProto {
    return {
      irVersion: opts.irVersion ?? 8,
      opsetImports: [{ domain: '', version: this.opset }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      producerName: opts.producerName ?? 'sanagraph-tools',
      ...(opts.producerVersion ? { producerVersion: opts.producerVersion } : {}),
      ...(opts.docString ? { docString: opts.docString } : {}),
      ...(opts.metadata ? { metadataProps: opts.metadata } : {}),
      graph: {
        name: this.name,
        nodes: this.nodes,
        initializers: this.initializers,
        inputs: this.inputs,
        outputs: this.outputs,
      },
    };
  }

  toBytes(opts: BuildOptions = {}): Uint8Array {
    return encodeModel(this.build(opts));
  }
}
