import { Worker } from 'node:worker_threads';
import type { ExecuteOptions } from './engine.ts';
import type { ExecutionResult } from './executor.ts';
import { WorkflowValidationError, type Problem } from './validate.ts';
import { WorkflowFormatError } from './workflow.ts';
import type { EngineEvent } from './events.ts';

/**
 * An Engine on its own worker thread. The calling thread (a server, the CLI) keeps a free event
 * loop however long nodes compute, and model sessions can live in the engine's thread, so a model
 * call costs no thread hop. The engine is built inside the thread by a setup module:
 *
 *   // my-setup.ts
 *   export async function createEngine(options) { ...; return { engine, commands: { free: () => ... } }; }
 *
 * `commands` are extra operations the host may call by name (e.g. free the models).
 */
export interface EngineThreadOptions {
  /** URL of the setup module (`import.meta.resolve`-style, or a file URL). */
  setup: string;
  /** Passed to the setup module's `createEngine`; must survive structured cloning. */
  options?: unknown;
}

type Reply =
  | { kind: 'ready' }
  | { kind: 'events'; events: { id: number; event: EngineEvent }[] }
  | { kind: 'done'; id: number; result: unknown }
  | { kind: 'failed'; id: number; error: { name: string; message: string; problems?: Problem[]; issues?: string[] } };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onEvent?: (event: EngineEvent) => void;
}

function revive(error: { name: string; message: string; problems?: Problem[]; issues?: string[] }): Error {
  if (error.name === 'WorkflowValidationError' && error.problems) return new WorkflowValidationError(error.problems);
  if (error.name === 'WorkflowFormatError') return Object.assign(new WorkflowFormatError(error.message), { message: error.message });
  return Object.assign(new Error(error.message), { name: error.name });
}

export class EngineThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly ready: Promise<void>;

  constructor(opts: EngineThreadOptions) {
    this.worker = new Worker(new URL('./onnx/worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./engine-thread-worker.ts', import.meta.url).href, setup: opts.setup, options: opts.options },
    });
    this.ready = new Promise((resolve, reject) => {
      const onReady = (msg: Reply) => {
        if (msg.kind !== 'ready') return;
        this.worker.off('message', onReady);
        resolve();
      };
      this.worker.on('message', onReady);
      this.worker.once('error', reject);
    });
    this.worker.on('message', (msg: Reply) => this.receive(msg));
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.on('exit', (code) => this.failAll(new Error(`the engine thread exited (code ${code})`)));
  }

  private receive(msg: Reply): void {
    if (msg.kind === 'ready') return;
    if (msg.kind === 'events') {
      for (const { id, event } of msg.events) this.pending.get(id)?.onEvent?.(event);
      return;
    }
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    if (msg.kind === 'done') waiter.resolve(msg.result);
    else waiter.reject(revive(msg.error));
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  private async send<T>(message: Record<string, unknown>, onEvent?: (event: EngineEvent) => void): Promise<{ id: number; result: Promise<T> }> {
    await this.ready;
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
    });
    this.worker.postMessage({ ...message, id });
    return { id, result };
  }

  /** As Engine.execute; the signal's abort is forwarded to the engine thread. */
  async execute(workflow: unknown, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    const { signal, onEvent, promptId, targets } = opts;
    const { id, result } = await this.send<ExecutionResult>({ op: 'execute', workflow, promptId, targets }, onEvent);
    const interrupt = () => this.worker.postMessage({ op: 'interrupt', id });
    if (signal?.aborted) interrupt();
    signal?.addEventListener('abort', interrupt, { once: true });
    try {
      return await result;
    } finally {
      signal?.removeEventListener('abort', interrupt);
    }
  }

  /** Calls one of the setup module's commands inside the engine thread. */
  async command<T = unknown>(name: string, args?: unknown): Promise<T> {
    const { result } = await this.send<T>({ op: 'command', name, args });
    return result;
  }

  async close(): Promise<void> {
    try {
      await this.command('close');
    } catch {
      // the setup module has no close command, or the thread is already gone
    }
    await this.worker.terminate();
  }
}
