import path from 'node:path';
import { stderrLogger } from '../engine/engine.ts';
import type { Logger } from '../engine/node.ts';
import { ModelManager } from '../engine/onnx/model-manager.ts';

/** What the model nodes need from their host: the model runtime and where models live. */
export interface NodeServices {
  models: ModelManager;
  /** Relative model paths (LoadPipeline's `path`) resolve against this folder. */
  modelsDir: string;
  /** Relative input file paths (LoadLatent, LoadConditioning) resolve against this folder. */
  inputDir: string;
  logger: Logger;
}

export interface ServiceOptions {
  modelsDir?: string;
  inputDir?: string;
  logger?: Logger;
  /** Intra-op threads per ONNX session. */
  threads?: number;
  /** Model memory budget in bytes (least recently used sessions are unloaded beyond it). */
  modelBudgetBytes?: number;
  /** Run ONNX sessions on this thread (for an engine on a worker thread) or on a worker of their own (default). */
  sessions?: 'worker' | 'here';
}

export function createServices(opts: ServiceOptions = {}): NodeServices {
  const logger = opts.logger ?? stderrLogger;
  return {
    models: new ModelManager({ logger, threads: opts.threads, budgetBytes: opts.modelBudgetBytes, sessions: opts.sessions }),
    modelsDir: path.resolve(opts.modelsDir ?? 'models'),
    inputDir: path.resolve(opts.inputDir ?? '.'),
    logger,
  };
}
