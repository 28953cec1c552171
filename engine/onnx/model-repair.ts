import path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  FileSource, ProtobufError, Wire, fields, int64s, rewrite, string,
  type Edit, type Field, type Source,
} from './protobuf-reader.ts';
import { ProtoWriter } from './protobuf-writer.ts';

/**
 * Repairs, at load, exports that ONNX Runtime refuses although their meaning is clear.
 *
 * torch.onnx.export (TorchScript) copies PyTorch's permute dims into Transpose's `perm` as they
 * were written, negative ones included (DC-AE decoders: `{0,-1,1,2}`); ONNX wants 0..rank-1,
 * and ONNX Runtime refuses the whole model ("Invalid attribute perm"). perm has one entry per
 * axis, so its length is the rank and a negative entry p means p + rank, as in PyTorch.
 *
 * A model without such nodes is loaded from its path, untouched. One with them is loaded from a
 * repaired copy in memory: only the messages on the way to a changed `perm` are written anew,
 * everything else (weights included) is copied byte for byte.
 */

// Field numbers of onnx.proto.
const MODEL = { graph: 7, functions: 25 } as const;
const FUNCTION = { name: 1, node: 7 } as const;
const GRAPH = { node: 1 } as const;
const NODE = { name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, g: 6, ints: 8, graphs: 11 } as const;

/** The model is wrong in a way no repair can guess: an error about the file, not the device. */
export class InvalidModelError extends Error {
  constructor(message: string) {
    // "invalid model" is what ModelManager's isModelProblem recognises across the worker boundary.
    super(`invalid model: ${message}`);
    this.name = 'InvalidModelError';
  }
}

interface Scan {
  repaired: number;
}

/**
 * perm with negative entries counted from the end, or undefined when it needs no change; throws
 * when even that is not a permutation of 0..n-1.
 */
function repairedPerm(perm: readonly number[], node: string): number[] | undefined {
  const n = perm.length;
  const fixed = perm.map((p) => (p < 0 ? p + n : p));
  const changed = fixed.some((p, i) => p !== perm[i]);
  if (!fixed.every((p) => p >= 0 && p < n) || new Set(fixed).size !== n) {
    const counted = changed ? ` (with negative entries counted from the end: [${fixed.join(',')}])` : '';
    throw new InvalidModelError(`Transpose ${node} has perm [${perm.join(',')}]${counted}, which is not a permutation of 0..${n - 1}`);
  }
  return changed ? fixed : undefined;
}

/** The attribute's content with `ints` replaced by `values` (packed), its other fields as they were. */
function withInts(src: Source, attribute: Field, values: readonly number[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let written = false;
  for (const f of fields(src, attribute.valueStart, attribute.end)) {
    if (f.number !== ATTRIBUTE.ints) parts.push(src.bytes(f.start, f.end));
    else if (!written) {
      parts.push(new ProtoWriter().packedInts(ATTRIBUTE.ints, values).finish());
      written = true;
    }
  }
  return Buffer.concat(parts);
}

function scanAttribute(src: Source, attribute: Field, transpose: boolean, node: string, scan: Scan): Edit | undefined {
  let name = '';
  const ints: Field[] = [];
  const graphs: Field[] = [];
  for (const f of fields(src, attribute.valueStart, attribute.end)) {
    if (f.number === ATTRIBUTE.name && f.wire === Wire.LEN) name = string(src, f);
    else if (f.number === ATTRIBUTE.ints) ints.push(f);
    else if ((f.number === ATTRIBUTE.g || f.number === ATTRIBUTE.graphs) && f.wire === Wire.LEN) graphs.push(f);
  }
  if (transpose && name === 'perm') {
    // proto2 writers (onnx's own, hence torch's) write repeated ints unpacked, one field per entry.
    const perm = ints.flatMap((f) => int64s(src, f)).map(Number);
    const fixed = repairedPerm(perm, node);
    if (!fixed) return undefined;
    scan.repaired++;
    return { field: attribute, content: withInts(src, attribute, fixed) };
  }
  // If, Loop and Scan (and contrib ops) carry their bodies as graph attributes.
  const edits = graphs.flatMap((g) => nodeEdits(src, g, GRAPH.node, ` in attribute ${name} of ${node}`, scan));
  return edits.length ? { field: attribute, edits } : undefined;
}

function scanNode(src: Source, field: Field, index: number, where: string, scan: Scan): Edit | undefined {
  let name = '';
  let opType = '';
  let domain = '';
  const attributes: Field[] = [];
  for (const f of fields(src, field.valueStart, field.end)) {
    if (f.wire !== Wire.LEN) continue;
    if (f.number === NODE.name) name = string(src, f);
    else if (f.number === NODE.opType) opType = string(src, f);
    else if (f.number === NODE.domain) domain = string(src, f);
    else if (f.number === NODE.attribute) attributes.push(f);
  }
  const node = `node ${index}${name ? ` "${name}"` : ''}${where}`;
  const transpose = opType === 'Transpose' && (domain === '' || domain === 'ai.onnx');
  const edits = attributes.flatMap((a) => scanAttribute(src, a, transpose, node, scan) ?? []);
  return edits.length ? { field, edits } : undefined;
}

/** The edits of a graph's or function's nodes, as one edit of `container` (none: []). */
function nodeEdits(src: Source, container: Field, nodeNumber: number, where: string, scan: Scan): Edit[] {
  const edits: Edit[] = [];
  let index = 0;
  for (const f of fields(src, container.valueStart, container.end)) {
    if (f.number !== nodeNumber || f.wire !== Wire.LEN) continue;
    const edit = scanNode(src, f, index++, where, scan);
    if (edit) edits.push(edit);
  }
  return edits.length ? [{ field: container, edits }] : [];
}

function functionName(src: Source, fn: Field): string {
  for (const f of fields(src, fn.valueStart, fn.end)) if (f.number === FUNCTION.name && f.wire === Wire.LEN) return string(src, f);
  return '';
}

/** The edits that repair a model (in file order), and how many Transpose nodes they repair. */
function scanModel(src: Source): { edits: Edit[]; repaired: number } {
  const scan: Scan = { repaired: 0 };
  const edits: Edit[] = [];
  for (const f of fields(src, 0, src.size)) {
    if (f.wire !== Wire.LEN) continue;
    if (f.number === MODEL.graph) edits.push(...nodeEdits(src, f, GRAPH.node, '', scan));
    else if (f.number === MODEL.functions) edits.push(...nodeEdits(src, f, FUNCTION.node, ` in function "${functionName(src, f)}"`, scan));
  }
  return { edits, repaired: scan.repaired };
}

export interface PreparedModel {
  path: string;
  /** A repaired copy of the file, when it needed one. */
  bytes?: Uint8Array;
  /** What was repaired, one line for the log. */
  repaired?: string;
}

/**
 * The model as ONNX Runtime should load it: the path itself, or a repaired copy. Throws
 * InvalidModelError for a defect it cannot repair. A file it cannot read as protobuf is left to
 * ONNX Runtime, which reports that as it always has.
 */
export function prepareModel(file: string): PreparedModel {
  let src: FileSource;
  try {
    src = new FileSource(file);
  } catch {
    return { path: file };
  }
  try {
    const { edits, repaired } = scanModel(src);
    if (!repaired) return { path: file };
    const nodes = repaired === 1 ? 'node' : 'nodes';
    return { path: file, bytes: rewrite(src, edits), repaired: `repaired ${repaired} Transpose ${nodes} with negative perm entries in ${file}` };
  } catch (e) {
    if (e instanceof ProtobufError || (e as NodeJS.ErrnoException).code) return { path: file };
    throw e;
  } finally {
    src.close();
  }
}

/** Creates the session of a prepared model (the bytes of a repaired copy, else the path). */
export function createSession(model: PreparedModel, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  if (!model.bytes) return ort.InferenceSession.create(model.path, options);
  // Loaded from bytes, ONNX Runtime knows no folder to find external data (model.onnx_data) in,
  // and refuses such a model unless told the folder: the model file's, where the locations point.
  const session = {
    ...(options.extra?.session as Record<string, string> | undefined),
    model_external_initializers_file_folder_path: path.dirname(path.resolve(model.path)),
  };
  return ort.InferenceSession.create(model.bytes, { ...options, extra: { ...options.extra, session } });
}
