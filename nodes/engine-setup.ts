import { Engine } from '../engine/engine.ts';
import { loadCustomNodes } from '../engine/custom-nodes.ts';
import type { Logger } from '../engine/node.ts';
import type { Device } from '../engine/onnx/providers.ts';
import { registerBuiltins } from './index.ts';
import { createServices } from './services.ts';

/**
 * Builds a complete engine: built-in nodes, custom node packages, model services. Used on the
 * calling thread (for validation and the node catalog) and, through EngineThread, inside the
 * engine's own thread, where the ONNX sessions live too (`sessions: 'here'`).
 */
export interface EngineSetupOptions {
  outputDir?: string;
  tempDir?: string;
  modelsDir?: string;
  inputDir?: string;
  customNodes?: string[];
  cacheBytes?: number;
  threads?: number;
  debug?: boolean;
  sessions?: 'worker' | 'here';
  /** The device for LoadPipeline nodes left at `auto` (`--device`). */
  device?: Device;
  /** Keep workflow-given paths inside the models and input folders (the server turns this on). */
  confinePaths?: boolean;
}

export async function createEngine(opts: EngineSetupOptions = {}, logger?: Logger) {
  const engine = new Engine({
    outputDir: opts.outputDir,
    tempDir: opts.tempDir,
    cache: opts.cacheBytes ? { maxBytes: opts.cacheBytes } : undefined,
    debug: opts.debug,
    logger,
  });
  const services = registerBuiltins(engine.registry, createServices({
    modelsDir: opts.modelsDir, inputDir: opts.inputDir, threads: opts.threads, sessions: opts.sessions ?? 'here', device: opts.device,
    confinePaths: opts.confinePaths, logger,
  }));
  const report = await loadCustomNodes(engine.registry, opts.customNodes ?? []);
  const commands = {
    free: () => services.models.free(),
    models: () => services.models.loaded().map(({ path, device, provider, bytes }) => ({ path, device, provider, bytes })),
    runtimeStats: () => ({
      runMs: services.models.runMs, runs: services.models.runs, byModel: Object.fromEntries(services.models.runMsByModel),
      transfers: services.models.transfers(),
    }),
    clearCache: () => engine.cache.clear(),
    close: () => services.models.close(),
  };
  return { engine, services, report, commands };
}
