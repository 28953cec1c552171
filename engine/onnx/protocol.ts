import type { DType, Tensor } from '../tensor.ts';

/** Messages between the main thread and the ONNX Runtime worker (structured clone). */

export interface TensorInfo {
  name: string;
  /** Element type as ONNX Runtime names it ('float32', 'float16', 'int64', ...). */
  type: string;
  /** Dimension sizes; strings are symbolic (dynamic) dimensions. */
  shape: (number | string)[];
}

export interface SessionInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** The execution provider the session runs on. */
  provider: string;
  /** What was repaired in the model file to load it (model-repair.ts), for the manager to log. */
  repaired?: string;
  /** Its outputs stay on the device (SessionStore.runOnDevice); `run` reads them back. */
  outputsOnDevice?: boolean;
}

export interface CreateRequest {
  op: 'create';
  session: string;
  path: string;
  provider: string;
  threads?: number;
  /** `device`: keep outputs on the device where the provider can (webgpu). */
  outputs?: 'device' | 'host';
  /** A graph built in memory (then `path` only names it). */
  bytes?: Uint8Array;
}
export interface RunRequest {
  op: 'run';
  session: string;
  feeds: Record<string, Tensor>;
}
export interface ReleaseRequest { op: 'release'; session: string }

export type Request = (CreateRequest | RunRequest | ReleaseRequest) & { id: number };

export interface RunResult {
  outputs: Record<string, Tensor>;
  /** Milliseconds spent inside ONNX Runtime's run, as measured in the worker. */
  runMs: number;
}

export type Response =
  | { id: number; ok: true; value: SessionInfo | RunResult | null }
  | { id: number; ok: false; error: { name: string; message: string } };

export const SUPPORTED_INPUT_TYPES: readonly DType[] = ['float32', 'float16', 'int64', 'int32', 'bool'];
