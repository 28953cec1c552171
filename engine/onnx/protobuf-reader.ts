import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { varint as varintBytes } from './protobuf-writer.ts';

/**
 * A minimal protobuf wire-format reader and rewriter, for looking into `.onnx` files without
 * loading them. Fields are visited as byte ranges: a message's content is only read where the
 * caller descends into it, so a tensor's payload (most of a model file) is skipped by its length
 * and never read. The rewriter replaces a few fields and copies every other byte as it was.
 * (tools/onnx/protobuf.ts is our writer for test models; the engine does not depend on tools/.)
 */

/** The bytes being read (a file, read in windows). */
export interface Source {
  readonly size: number;
  byte(pos: number): number;
  bytes(start: number, end: number): Uint8Array;
  /** Copies [start, end) into `out` at `at`. */
  copy(start: number, end: number, out: Uint8Array, at: number): void;
}

/** Not protobuf (or cut short): callers let ONNX Runtime report it in its own words. */
export class ProtobufError extends Error {
  constructor(message: string) { super(message); this.name = 'ProtobufError'; }
}

/**
 * A file read through a small window: walking fields moves mostly forward, and skipping a large
 * field only moves the window.
 */
export class FileSource implements Source {
  private readonly fd: number;
  readonly size: number;
  private readonly window = new Uint8Array(64 * 1024);
  private windowStart = 0;
  private windowEnd = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  close(): void { closeSync(this.fd); }

  byte(pos: number): number {
    if (pos < this.windowStart || pos >= this.windowEnd) {
      if (pos >= this.size) throw new ProtobufError('unexpected end of file');
      this.windowStart = pos;
      this.windowEnd = pos + readSync(this.fd, this.window, 0, Math.min(this.window.length, this.size - pos), pos);
    }
    return this.window[pos - this.windowStart];
  }

  bytes(start: number, end: number): Uint8Array {
    const out = new Uint8Array(end - start);
    this.copy(start, end, out, 0);
    return out;
  }

  copy(start: number, end: number, out: Uint8Array, at: number): void {
    for (let done = 0; start + done < end;) {
      const n = readSync(this.fd, out, at + done, end - start - done, start + done);
      if (n === 0) throw new ProtobufError('unexpected end of file');
      done += n;
    }
  }
}

/** Wire types (the groups of proto2, 3 and 4, do not occur in ONNX). */
export const Wire = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

export interface Field {
  readonly number: number;
  readonly wire: number;
  /** Where the tag starts. */
  readonly start: number;
  /** Where the tag ends (for LEN fields, where the length starts). */
  readonly tagEnd: number;
  /** Where the value starts (for LEN fields, the content, after the length). */
  readonly valueStart: number;
  readonly end: number;
}

/** An unsigned varint that fits a double exactly (tags, lengths); returns [value, next position]. */
function varint(src: Source, pos: number): [number, number] {
  let value = 0;
  for (let scale = 1; ; scale *= 128) {
    const b = src.byte(pos++);
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    if (scale > 2 ** 49) throw new ProtobufError('varint too long');
  }
}

/** A varint field's value as a signed int64 (negative values are their 64-bit two's complement). */
function int64(src: Source, pos: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    const b = src.byte(pos++);
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [BigInt.asIntN(64, value), pos];
  }
  throw new ProtobufError('varint too long');
}

/** The fields of the message content in [start, end), in file order. */
export function* fields(src: Source, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, tagEnd] = varint(src, pos);
    const wire = tag & 7;
    const number = Math.floor(tag / 8);
    let valueStart = tagEnd;
    let fieldEnd: number;
    switch (wire) {
      case Wire.VARINT: fieldEnd = int64(src, tagEnd)[1]; break;
      case Wire.I64: fieldEnd = tagEnd + 8; break;
      case Wire.I32: fieldEnd = tagEnd + 4; break;
      case Wire.LEN: {
        const [length, next] = varint(src, tagEnd);
        valueStart = next;
        fieldEnd = next + length;
        break;
      }
      default: throw new ProtobufError(`unsupported wire type ${wire} at byte ${pos}`);
    }
    if (number === 0 || fieldEnd > end) throw new ProtobufError(`malformed field at byte ${pos}`);
    yield { number, wire, start: pos, tagEnd, valueStart, end: fieldEnd };
    pos = fieldEnd;
  }
}

const utf8 = new TextDecoder();

export function string(src: Source, field: Field): string {
  return utf8.decode(src.bytes(field.valueStart, field.end));
}

/** A repeated int64 field's values from one occurrence, packed (LEN) or not (VARINT). */
export function int64s(src: Source, field: Field): bigint[] {
  if (field.wire === Wire.VARINT) return [int64(src, field.valueStart)[0]];
  if (field.wire !== Wire.LEN) throw new ProtobufError(`field ${field.number} is not an integer list`);
  const out: bigint[] = [];
  for (let pos = field.valueStart; pos < field.end;) {
    const [value, next] = int64(src, pos);
    out.push(value);
    pos = next;
  }
  return out;
}

// -- writing ------------------------------------------------------------------------------------

/**
 * A LEN field to write differently: with new content, or with its content copied except for
 * edits inside it. The tag is kept as it was; the length is written anew.
 */
export type Edit =
  | { readonly field: Field; readonly content: Uint8Array }
  | { readonly field: Field; readonly edits: readonly Edit[] };

/**
 * The source with its top-level `edits` applied (each a LEN field, in file order, not
 * overlapping). Only the messages on the way to an edit get new lengths; every other byte is
 * copied unchanged, tensors included.
 */
export function rewrite(src: Source, edits: readonly Edit[]): Uint8Array {
  const sizes = new Map<Edit, number>();
  const contentSize = (e: Edit): number => {
    let size = sizes.get(e);
    if (size === undefined) {
      size = 'content' in e ? e.content.length : spanSize(e.field.valueStart, e.field.end, e.edits);
      sizes.set(e, size);
    }
    return size;
  };
  const spanSize = (start: number, end: number, inner: readonly Edit[]): number => {
    let size = end - start;
    let last = start;
    for (const e of inner) {
      if (e.field.wire !== Wire.LEN || e.field.start < last || e.field.end > end) throw new Error('rewrite: edits must be LEN fields in order');
      last = e.field.end;
      const n = contentSize(e);
      size += e.field.tagEnd - e.field.start + varintBytes(n).length + n - (e.field.end - e.field.start);
    }
    return size;
  };
  const out = new Uint8Array(spanSize(0, src.size, edits));
  const write = (start: number, end: number, inner: readonly Edit[], at: number): number => {
    let pos = start;
    for (const e of inner) {
      src.copy(pos, e.field.tagEnd, out, at); // unchanged bytes, then this field's tag
      at += e.field.tagEnd - pos;
      const length = varintBytes(contentSize(e));
      out.set(length, at);
      at += length.length;
      if ('content' in e) {
        out.set(e.content, at);
        at += e.content.length;
      } else {
        at = write(e.field.valueStart, e.field.end, e.edits, at);
      }
      pos = e.field.end;
    }
    src.copy(pos, end, out, at);
    return at + end - pos;
  };
  write(0, src.size, edits, 0);
  return out;
}
