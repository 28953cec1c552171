import path from 'node:path';
import { describeNodes, type NodeInfo } from '../engine/catalog.ts';
import type { Engine, ExecuteOptions } from '../engine/engine.ts';
import { EngineThread } from '../engine/engine-thread.ts';
import type { ExecutionResult } from '../engine/executor.ts';
import type { Logger } from '../engine/node.ts';
import { WorkflowFormatError } from '../engine/workflow.ts';
import { WorkflowValidationError } from '../engine/validate.ts';
import { createEngine, type EngineSetupOptions } from '../nodes/engine-setup.ts';

const SETUP = new URL('../nodes/engine-setup.ts', import.meta.url).href;

/**
 * The server's engine, as the CLI builds it: an engine on this thread that only validates and
 * describes nodes (it runs nothing, so HTTP and WebSocket stay responsive), and one EngineThread
 * that executes, with the models in its own thread. If that thread dies, the next run starts a
 * new one.
 */
export class EngineHost {
  private thread: EngineThread;
  private catalogCache?: Record<string, NodeInfo>;
  private running = 0;
  private freeRequested?: { clearCache: boolean };

  private constructor(readonly front: Engine, private readonly setup: EngineSetupOptions, private readonly logger: Logger) {
    this.thread = new EngineThread({ setup: SETUP, options: setup });
  }

  /** A server's or worker's engine: models from ./models and workflow paths kept inside the models and input folders, unless set. */
  static async create(options: EngineSetupOptions, logger: Logger): Promise<EngineHost> {
    const setup = { ...options, modelsDir: options.modelsDir ?? 'models', confinePaths: options.confinePaths ?? true };
    const { engine, report } = await createEngine({ ...setup, sessions: 'worker' }, logger);
    for (const f of report.failed) logger.warn(`custom nodes ${f.path} skipped: ${f.error}`);
    for (const l of report.loaded) logger.info(`custom nodes ${l.path}: ${l.types.join(', ')}`);
    const host = new EngineHost(engine, setup, logger);
    await host.thread.command('models'); // fails here, at startup, when the engine thread cannot start
    return host;
  }

  get outputDir(): string { return this.front.outputDir; }
  get modelsDir(): string { return path.resolve(this.setup.modelsDir!); } // create() sets it
  get tempDir(): string { return this.front.tempRoot; }

  /** `/object_info`: computed once, the node set does not change while the server runs. */
  catalog(): Record<string, NodeInfo> {
    this.catalogCache ??= describeNodes(this.front.registry);
    return this.catalogCache;
  }

  validate(workflow: unknown, targets?: string[]) {
    return this.front.validate(workflow, targets);
  }

  async execute(workflow: unknown, opts: ExecuteOptions): Promise<ExecutionResult> {
    this.running++;
    try {
      return await this.thread.execute(workflow, opts);
    } catch (e) {
      // Validation and format errors leave the thread healthy; anything else means it died.
      if (!(e instanceof WorkflowValidationError) && !(e instanceof WorkflowFormatError)) this.restart(e as Error);
      throw e;
    } finally {
      this.running--;
      const request = this.freeRequested;
      if (request && this.running === 0) {
        this.freeRequested = undefined;
        await this.free(request).catch((e) => this.logger.warn(`free after the prompt failed: ${(e as Error).message}`));
      }
    }
  }

  /**
   * Unloads the models (and with `clearCache` drops cached results) now, or once the running
   * prompt has finished, as ComfyUI's `/free` does; requests made meanwhile are merged.
   */
  async free(opts: { clearCache: boolean }): Promise<void> {
    if (this.running > 0) {
      this.freeRequested = { clearCache: opts.clearCache || (this.freeRequested?.clearCache ?? false) };
      return;
    }
    await this.thread.command('free');
    if (opts.clearCache) await this.thread.command('clearCache');
  }

  command<T = unknown>(name: string): Promise<T> {
    return this.thread.command<T>(name);
  }

  private restart(reason: Error): void {
    this.logger.error(`the engine thread failed (${reason.message}); starting a new one`);
    const old = this.thread;
    this.thread = new EngineThread({ setup: SETUP, options: this.setup });
    old.close().catch(() => {});
  }

  async close(): Promise<void> {
    await this.thread.close();
  }
}
