/**
 * A tiny, zero-dependency protobuf *writer* for the subset of ONNX we author: test models and the small graphs the engine runs beside a model (device-resident sampling steps).
 *
 * Field numbers are those of upstream `onnx/onnx.proto3` (checked against onnx/onnx):
 *   ModelProto:        ir_version=1 producer_name=2 producer_version=3 doc_string=6 graph=7
 *                      opset_import=8 metadata_props=14
 *   OperatorSetIdProto domain=1 version=2          StringStringEntryProto key=1 value=2
 *   GraphProto:        node=1 name=2 initializer=5 input=11 output=12
 *   NodeProto:         input=1 output=2 name=3 op_type=4 attribute=5 domain=7
 *   AttributeProto:    name=1 f=2 i=3 s=4 t=5 floats=7 ints=8 strings=9 type=20
 *   TensorProto:       dims=1 data_type=2 name=8 raw_data=9
 *   ValueInfoProto:    name=1 type=2
 *   TypeProto:         tensor_type=1 → TypeProto.Tensor elem_type=1 shape=2
 *   TensorShapeProto:  dim=1 → Dimension dim_value=1 | dim_param=2
 *
 * We only ever encode (never decode); onnxruntime is the reader that matters.
 */

/** ONNX TensorProto.DataType values we use. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export interface TensorProto {
  name: string;
  dataType: DataTypeCode;
  dims: readonly number[];
  /** Little-endian element bytes (ONNX `raw_data`). */
  rawData: Uint8Array;
}

/** A dimension: a fixed size, or a symbolic name (`dim_param`) for a dynamic axis. */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: DataTypeCode;
  /** null: any rank (no shape written). */
  shape: readonly Dim[] | null;
}

export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number | bigint }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorProto }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'ints'; value: readonly (number | bigint)[] }
  | { kind: 'strings'; value: readonly string[] };

export interface AttributeProto {
  name: string;
  value: AttributeValue;
}

export interface NodeProto {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: readonly AttributeProto[];
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImports: readonly OpsetImport[];
  producerName: string;
  producerVersion?: string;
  docString?: string;
  graph: GraphProto;
  metadataProps?: Readonly<Record<string, string>>;
}

// Wire types.
const VARINT = 0;
const LEN = 2;
const I32 = 5;

const utf8 = new TextEncoder();

/**
 * Unsigned LEB128. Negative int64 values go on the wire as their 64-bit two's complement
 * (10 bytes), e.g. `axis: -1`, so they are widened through BigInt.
 */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  for (; v > 0x7fn; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** Accumulates encoded chunks; nested messages are encoded first and then length-prefixed. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  varint(value: number | bigint): this {
    this.push(varint(value));
    return this;
  }

  private tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    return this.tag(field, VARINT).varint(value);
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.tag(field, I32);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LEN).varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const sub = new ProtoWriter();
    build(sub);
    return this.bytes(field, sub.finish());
  }

  /** proto3 packs repeated scalars by default; ORT accepts packed ints and floats. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const sub = new ProtoWriter();
    for (const v of values) sub.varint(v);
    return this.bytes(field, sub.finish());
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

function writeTensor(w: ProtoWriter, t: TensorProto): void {
  if (t.dims.length > 0) w.packedInts(1, t.dims);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.rawData);
}

function writeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  const v = a.value;
  switch (v.kind) {
    case 'float': w.float(2, v.value).int(20, AttrType.FLOAT); break;
    case 'int': w.int(3, v.value).int(20, AttrType.INT); break;
    case 'string': w.string(4, v.value).int(20, AttrType.STRING); break;
    case 'tensor': w.message(5, (s) => writeTensor(s, v.value)).int(20, AttrType.TENSOR); break;
    case 'floats': w.packedFloats(7, v.value).int(20, AttrType.FLOATS); break;
    case 'ints': w.packedInts(8, v.value).int(20, AttrType.INTS); break;
    case 'strings':
      for (const s of v.value) w.string(9, s);
      w.int(20, AttrType.STRINGS);
      break;
  }
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, (s) => writeAttribute(s, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      const dims = v.shape;
      if (dims) {
        tensor.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        });
      }
    }),
  );
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (s) => writeNode(s, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (s) => writeTensor(s, t));
  for (const i of g.inputs) w.message(11, (s) => writeValueInfo(s, i));
  for (const o of g.outputs) w.message(12, (s) => writeValueInfo(s, o));
}

/** Serialises a ModelProto to the bytes of an `.onnx` file. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (s) => writeGraph(s, m.graph));
  for (const o of m.opsetImports) {
    w.message(8, (s) => {
      if (o.domain) s.string(1, o.domain);
      s.int(2, o.version);
    });
  }
  for (const [key, value] of Object.entries(m.metadataProps ?? {})) {
    w.message(14, (s) => s.string(1, key).string(2, value));
  }
  return w.finish();
}
