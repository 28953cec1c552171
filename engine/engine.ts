import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CACHE_LIMITS, ResultCache, type CacheLimits } from './cache.ts';
import type { EngineEvent } from './events.ts';
import { Execution, type ExecutionResult } from './executor.ts';
import type { Logger } from './node.ts';
import { NodeRegistry } from './registry.ts';
import { validateWorkflow, WorkflowValidationError, type ValidatedWorkflow } from './validate.ts';
import { parseWorkflow, type Workflow } from './workflow.ts';

export interface EngineOptions {
  registry?: NodeRegistry;
  cache?: Partial<CacheLimits>;
  /** Where output nodes write (default `./output`). */
  outputDir?: string;
  /** Root of the per-execution temp directories (default: the OS temp dir). */
  tempDir?: string;
  /** Async nodes allowed to run at once, across independent branches (default 4). */
  concurrency?: number;
  logger?: Logger;
  /** Include stack traces in `execution_error` events. */
  debug?: boolean;
}

export interface ExecuteOptions {
  promptId?: string;
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /** Run only these nodes and their ancestors instead of every output node. */
  targets?: string[];
}

export const stderrLogger: Logger = {
  debug: (m) => { if (process.env.SANAGRAPH_DEBUG) console.error(`debug: ${m}`); },
  info: (m) => console.error(m),
  warn: (m) => console.error(`warning: ${m}`),
  error: (m) => console.error(`error: ${m}`),
};

/**
 * The runtime: a node registry, a result cache shared by all runs, and `execute`.
 * Knows nothing about the nodes it runs. Safe to use for several runs at once.
 */
export class Engine {
  readonly registry: NodeRegistry;
  readonly cache: ResultCache;
  readonly outputDir: string;
  readonly tempRoot: string;
  private readonly options: EngineOptions;

  constructor(options: EngineOptions = {}) {
    this.options = options;
    this.registry = options.registry ?? new NodeRegistry();
    this.cache = new ResultCache({ ...DEFAULT_CACHE_LIMITS, ...options.cache });
    this.outputDir = path.resolve(options.outputDir ?? 'output');
    this.tempRoot = path.resolve(options.tempDir ?? path.join(os.tmpdir(), 'sanagraph'));
  }

  /** Parses (any supported format) and validates. Throws only for a value that is no workflow at all. */
  validate(input: unknown, targets?: string[]): ValidatedWorkflow & { workflow: Workflow } {
    const workflow = parseWorkflow(input);
    return { workflow, ...validateWorkflow(workflow, this.registry, targets) };
  }

  /**
   * Runs a workflow. Throws `WorkflowFormatError` / `WorkflowValidationError` before anything
   * runs; after that, node failures and interrupts are reported in the result and as events.
   */
  async execute(input: unknown, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    const validated = this.validate(input, opts.targets);
    if (validated.problems.length) throw new WorkflowValidationError(validated.problems);
    const emit = opts.onEvent ?? (() => {});
    const execution = new Execution({
      registry: this.registry,
      cache: this.cache,
      outputDir: this.outputDir,
      tempRoot: this.tempRoot,
      concurrency: this.options.concurrency ?? 4,
      logger: this.options.logger ?? stderrLogger,
      debug: this.options.debug ?? false,
    }, validated, validated.workflow, opts.promptId ?? randomUUID(), emit, opts.signal);
    return execution.run();
  }
}
