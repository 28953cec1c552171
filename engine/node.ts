import type { DataType } from './data-types.ts';
import type { InputSpecs, InputValues } from './inputs.ts';
import type { Expansion, SubgraphBuilder, SubgraphOptions } from './expansion.ts';

export interface OutputSpec<T = unknown> {
  readonly name: string;
  readonly type: string | DataType<T>;
  readonly tooltip?: string;
}
export type OutputSpecs = readonly OutputSpec[];

type OutputValue<S> = S extends OutputSpec<infer T> ? T : unknown;
/** The tuple of values `run` returns, one per declared output, in order. */
export type OutputValues<O extends OutputSpecs> = { -readonly [K in keyof O]: OutputValue<O[K]> };

/** What an output node shows: e.g. `{ images: [{ filename, subfolder, type }] }`, sent with `executed`. */
export type UiOutput = Record<string, unknown[]>;

export type RunResult<O extends OutputSpecs> =
  | OutputValues<O>
  | { outputs?: OutputValues<O>; ui?: UiOutput }
  | Expansion;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A file reserved for a node to write, and how clients address it (ComfyUI's `/view` triple). */
export interface SavedFile {
  path: string;
  filename: string;
  subfolder: string;
  type: 'output' | 'temp';
}

export interface NodeContext {
  readonly nodeId: string;
  readonly promptId: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Reports progress of a long node; forwarded as a `progress` event. */
  progress(value: number, max: number): void;
  /** The directory output nodes write into (`--output-dir`). */
  readonly outputDir: string;
  /** A directory private to this execution, created on first use. */
  readonly tempDir: string;
  /**
   * Reserves a new file `<prefix>_00001.<ext>`, `<prefix>_00002.<ext>`, ... that never
   * overwrites an existing one. `prefix` may name subfolders (`portraits/me`).
   */
  reserveFile(prefix: string, ext: string, where?: 'output' | 'temp'): SavedFile;
  /** Starts a sub-graph that will run in this node's place (node expansion). */
  subgraph(options?: SubgraphOptions): SubgraphBuilder;
  /** The workflow being executed, as given (for nodes that embed it in their files). */
  readonly workflow: unknown;
}

export interface NodeDefinition<I extends InputSpecs = InputSpecs, O extends OutputSpecs = OutputSpecs> {
  readonly type: string;
  readonly displayName?: string;
  readonly category: string;
  readonly description: string;
  /** Bump when the node's results change for the same inputs: invalidates cached results. */
  readonly version?: number;
  readonly inputs: I;
  readonly outputs: O;
  /** An output node: what makes a workflow do something. Only outputs and their ancestors run. */
  readonly output?: boolean;
  /** `false`: never reuse a result (e.g. a random source); everything downstream re-runs too. */
  readonly cache?: boolean;
  /**
   * Extra cache key from the node's literal inputs (linked inputs are absent), e.g. a
   * file's mtime or hash: when it changes, the cached result is not reused.
   */
  isChanged?(literals: Partial<InputValues<I>>): unknown;
  run(inputs: InputValues<I>, ctx: NodeContext): RunResult<O> | Promise<RunResult<O>>;
}

/** A node definition with its types erased, as the registry stores it. */
export interface AnyNodeDefinition extends Omit<NodeDefinition, 'run' | 'isChanged'> {
  isChanged?(literals: Record<string, unknown>): unknown;
  run(inputs: Record<string, unknown>, ctx: NodeContext): unknown;
}

/** Declares a node. Types of `run`'s inputs and outputs are inferred from the specs. */
export function defineNode<const I extends InputSpecs, const O extends OutputSpecs>(
  def: NodeDefinition<I, O>,
): AnyNodeDefinition {
  return def as unknown as AnyNodeDefinition;
}

export function outputTypeName(spec: OutputSpec): string {
  return typeof spec.type === 'string' ? spec.type : spec.type.name;
}

/** A run-time problem with one input of a node: the message names the input. */
export class InputError extends Error {
  constructor(readonly input: string, message: string) {
    super(`input "${input}": ${message}`);
    this.name = 'InputError';
  }
}
