import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { stderrLogger } from '../engine/engine.ts';
import { InputError, type Logger } from '../engine/node.ts';
import { ModelManager } from '../engine/onnx/model-manager.ts';
import type { Device } from '../engine/onnx/providers.ts';

/** What the model nodes need from their host: the model runtime and where models live. */
export interface NodeServices {
  models: ModelManager;
  /** Relative model paths (LoadPipeline's `path`) resolve against this folder. */
  modelsDir: string;
  /** Relative input file paths (LoadLatent, LoadConditioning) resolve against this folder. */
  inputDir: string;
  /** Keep user-given paths inside modelsDir / inputDir (a server shared with others turns this on). */
  confinePaths: boolean;
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
  /** The device models load on where LoadPipeline says `auto` (see ModelManagerOptions.device). */
  device?: Device;
  confinePaths?: boolean;
}

export function createServices(opts: ServiceOptions = {}): NodeServices {
  const logger = opts.logger ?? stderrLogger;
  return {
    models: new ModelManager({ logger, threads: opts.threads, budgetBytes: opts.modelBudgetBytes, sessions: opts.sessions, device: opts.device }),
    modelsDir: path.resolve(opts.modelsDir ?? 'models'),
    inputDir: path.resolve(opts.inputDir ?? '.'),
    confinePaths: opts.confinePaths ?? false,
    logger,
  };
}

/**
 * A path a workflow names (a model folder, an input file), resolved against `root`. With
 * `confinePaths` it must stay inside `root` once symlinks are resolved: a workflow from someone
 * else must not read arbitrary files of the server's user.
 */
export function resolveUserPath(services: NodeServices, root: string, given: string, input: string): string {
  const full = path.resolve(root, given);
  if (!services.confinePaths) return full;
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : p);
  const rel = path.relative(real(root), real(full));
  if (rel.startsWith('..') || path.isAbsolute(rel) || given.includes('\0')) {
    throw new InputError(input, `${JSON.stringify(given)} is outside ${root}: this server only reads files under it`);
  }
  return full;
}
