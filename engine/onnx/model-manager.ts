import { existsSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../node.ts';
import type { DType, Tensor } from '../tensor.ts';
import type { Request, Response, RunResult, SessionInfo } from './protocol.ts';
import { SessionStore, type DeviceTensor, type Feed, type Transfers } from './session-store.ts';
import { autoSkipReason, candidates, explainUnavailable, firstLine, noteFallback, type Device } from './providers.ts';

/** A request without its id (Omit distributed over the union). */
type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export interface LoadedModel extends SessionInfo {
  /** `<device>:<real path>`: one session per model file and requested device. */
  readonly key: string;
  readonly path: string;
  readonly device: Device;
  /** Model file size plus external data, the estimate the memory budget counts. */
  readonly bytes: number;
}

export interface ModelManagerOptions {
  logger: Logger;
  /**
   * Where sessions live: `worker` (default) on a worker thread of their own, so this thread's
   * event loop stays free; `here` in the calling thread, for an engine that itself runs on a
   * worker thread (EngineThread), saving a thread hop per model call.
   */
  sessions?: 'worker' | 'here';
  /** Intra-op threads per session (default: ONNX Runtime's choice, all cores). */
  threads?: number;
  /** Unload least recently used idle sessions beyond this many bytes of model files (default 60% of RAM). */
  budgetBytes?: number;
  /**
   * What a load on `auto` uses (a server's or worker's `--device`); `auto` or absent: CUDA, then
   * WebGPU, then the CPU, whichever loads first. An explicit device in a load wins.
   */
  device?: Device;
}

/**
 * Model calls whose tensors stay on the device between calls (webgpu, sessions in this thread):
 * a sampling loop uploads its inputs once, runs the model and small graphs of its own on device
 * tensors, and reads back only its result. See SessionStore's DeviceTensor for their lifetime.
 */
export interface DeviceRunner {
  readonly provider: string;
  /** Runs the model itself. */
  run(feeds: Readonly<Record<string, Feed>>): Promise<Record<string, DeviceTensor>>;
  /** A graph built in memory (e.g. by GraphBuilder), on the same device, made once per name. */
  graph(name: string, build: () => Uint8Array): Promise<(feeds: Readonly<Record<string, Feed>>) => Promise<Record<string, DeviceTensor>>>;
  upload(t: Tensor, dtype: DType): Promise<DeviceTensor>;
  /** Reads a tensor back to the host (float as float32). */
  download(t: DeviceTensor): Promise<Tensor>;
}

export class ModelLoadError extends Error {
  constructor(message: string) { super(message); this.name = 'ModelLoadError'; }
}

/** The device asked for explicitly cannot run models here (no silent fallback). */
export class DeviceUnavailableError extends ModelLoadError {
  constructor(message: string) { super(message); this.name = 'DeviceUnavailableError'; }
}

/** Model file plus the external-data files ONNX exporters write beside it. */
function modelBytes(path: string): number {
  return [path, `${path}_data`, `${path}.data`].filter((p) => existsSync(p)).reduce((sum, p) => sum + statSync(p).size, 0);
}

/**
 * Loads ONNX models into sessions that live on one worker thread, keeps them across runs,
 * unloads the least recently used ones beyond a memory budget, and frees them on request.
 * A model that was unloaded is loaded again when it is next run.
 */
export class ModelManager {
  private worker?: Worker;
  private local?: SessionStore;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Loaded sessions, least recently used first. */
  private readonly models = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  private readonly busy = new Map<string, number>();
  /** Total milliseconds spent inside ONNX Runtime's `run` (for overhead measurements). */
  runMs = 0;
  runs = 0;
  /** The same per model file (as loaded), so a measurement can tell the models apart. */
  readonly runMsByModel = new Map<string, number>();

  constructor(private readonly options: ModelManagerOptions) {}

  private get budget(): number {
    return this.options.budgetBytes ?? Math.floor(os.totalmem() * 0.6);
  }

  private call<T>(req: RequestBody): Promise<T> {
    if (this.options.sessions === 'here') {
      this.local ??= new SessionStore();
      return this.local.handle({ ...req, id: 0 } as Request) as Promise<T>;
    }
    // Inside the executor, a worker that cannot start rejects: callers get a promise, never a throw.
    return new Promise<T>((resolve, reject) => {
      const worker = this.ensureWorker();
      const id = this.nextId++;
      if (this.pending.size === 0) worker.ref(); // keep the process alive while waiting for an answer
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./session-worker.ts', import.meta.url).href },
    });
    worker.on('message', (res: Response) => {
      const waiter = this.pending.get(res.id);
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref(); // an idle runtime must not keep the process alive
      if (!waiter) return;
      if (res.ok) waiter.resolve(res.value);
      else waiter.reject(Object.assign(new Error(res.error.message), { name: res.error.name }));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      this.failAll(new Error(`the ONNX Runtime worker exited (code ${code})`));
      this.worker = undefined;
      this.models.clear();
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  /**
   * Loads (or returns the loaded) session for a model file on a device (`auto`: the manager's
   * device option). `outputs: 'device'` keeps its outputs on the device where that can be used
   * (webgpu, sessions in this thread: see `device`); `run` still returns host tensors.
   */
  load(path: string, requested: Device, options: { outputs?: 'device' } = {}): Promise<LoadedModel> {
    const device = requested === 'auto' ? (this.options.device ?? 'auto') : requested;
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return Promise.reject(new ModelLoadError(`model file ${path} does not exist`));
    }
    const key = `${device}:${real}`;
    const loaded = this.models.get(key);
    if (loaded) {
      this.touch(key);
      return Promise.resolve(loaded);
    }
    let promise = this.loading.get(key);
    if (!promise) {
      promise = this.create(key, path, device, options.outputs).finally(() => this.loading.delete(key));
      this.loading.set(key, promise);
    }
    return promise;
  }

  private async create(key: string, path: string, device: Device, outputs?: 'device'): Promise<LoadedModel> {
    const bytes = modelBytes(path);
    await this.makeRoom(bytes);
    const errors: string[] = [];
    for (const provider of candidates(device)) {
      const skip = device === 'auto' ? autoSkipReason(provider) : undefined;
      if (skip) {
        noteFallback(provider, skip, this.options.logger);
        continue;
      }
      try {
        const { repaired, ...info } = await this.call<SessionInfo>({
          op: 'create', session: key, path, provider, threads: this.options.threads,
          // Device tensors cannot cross threads: only sessions in this thread keep outputs there.
          outputs: outputs === 'device' && this.options.sessions === 'here' ? 'device' : 'host',
        });
        if (repaired) this.options.logger.info(repaired);
        const model: LoadedModel = { ...info, key, path, device, bytes };
        this.models.set(key, model);
        return model;
      } catch (e) {
        const reason = firstLine((e as Error).message);
        if (isModelProblem(reason)) throw new ModelLoadError(`cannot load ${path}: ${reason}`);
        if (device !== 'auto') throw new DeviceUnavailableError(explainUnavailable(provider, reason));
        noteFallback(provider, reason, this.options.logger);
        errors.push(`${provider}: ${reason}`);
      }
    }
    throw new ModelLoadError(`cannot load ${path} on any device: ${errors.join('; ')}`);
  }

  private touch(key: string): void {
    const model = this.models.get(key);
    if (!model) return;
    this.models.delete(key);
    this.models.set(key, model);
  }

  /** Unloads idle sessions, least recently used first, until `incoming` more bytes fit the budget. */
  private async makeRoom(incoming: number): Promise<void> {
    let total = incoming;
    for (const m of this.models.values()) total += m.bytes;
    for (const [key, model] of [...this.models]) {
      if (total <= this.budget) break;
      if (this.busy.get(key)) continue;
      this.options.logger.info(`unloading ${model.path} (${model.device}) to stay within the model memory budget`);
      await this.unload(key);
      total -= model.bytes;
    }
  }

  /**
   * Runs a model; loads it again first if it was unloaded meanwhile. (Promise chains, not async
   * functions: a sampler step waits on about ten nested calls, and each async level adds
   * microtask turns between a model call's end and the next node.)
   */
  run(model: LoadedModel, feeds: Record<string, Tensor>): Promise<RunResult> {
    const current = this.models.get(model.key);
    if (!current) return this.load(model.path, model.device).then((loaded) => this.runLoaded(loaded, feeds));
    return this.runLoaded(current, feeds);
  }

  private runLoaded(model: LoadedModel, feeds: Record<string, Tensor>): Promise<RunResult> {
    return this.counted(model, () => this.call<RunResult>({ op: 'run', session: model.key, feeds }));
  }

  /** Marks the model busy (not unloaded to make room) while it runs, and counts its time. */
  private counted<R extends { runMs: number }>(model: LoadedModel, run: () => Promise<R>): Promise<R> {
    const key = model.key;
    this.touch(key);
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    const idle = () => this.busy.set(key, this.busy.get(key)! - 1);
    return run().then(
      (result) => { idle(); this.count(model.path, result.runMs); return result; },
      (e: unknown) => { idle(); throw e; },
    );
  }

  private count(name: string, runMs: number): void {
    this.runMs += runMs;
    this.runs++;
    this.runMsByModel.set(name, (this.runMsByModel.get(name) ?? 0) + runMs);
  }

  /**
   * Device-resident calls of a model whose session keeps its outputs on the device (loaded with
   * `outputs: 'device'` on webgpu, sessions in this thread); undefined otherwise.
   */
  device(model: LoadedModel): DeviceRunner | undefined {
    if (!model.outputsOnDevice || !this.local) return undefined;
    const store = this.local;
    const provider = model.provider;
    const graphs = this.graphs;
    return {
      provider,
      run: (feeds) => {
        // Loaded again if it was unloaded meanwhile (as `run`); tensors it made then were disposed.
        const current = this.models.get(model.key);
        const ready = current ? Promise.resolve(current) : this.load(model.path, model.device, { outputs: 'device' });
        return ready.then((m) => this.counted(m, () => store.runOnDevice(m.key, feeds))).then((r) => r.outputs);
      },
      graph: (name, build) => {
        const key = `graph:${provider}:${name}`;
        let made = graphs.get(key);
        if (!made) {
          made = Promise.resolve().then(() => store.create({ op: 'create', id: 0, session: key, path: key, provider, outputs: 'device', bytes: build() })).then(() => key);
          made.catch(() => graphs.delete(key));
          graphs.set(key, made);
        }
        return made.then((k) => (feeds: Readonly<Record<string, Feed>>) => store.runOnDevice(k, feeds).then((r) => { this.count(k, r.runMs); return r.outputs; }));
      },
      upload: (t, dtype) => store.upload(t, dtype, provider),
      download: (t) => store.download(t),
    };
  }

  /** Bytes that crossed between host and devices in this thread's sessions (none are counted on a worker). */
  transfers(): Transfers {
    return this.local ? { ...this.local.transfers } : { hostToDevice: 0, deviceToHost: 0 };
  }

  private readonly graphs = new Map<string, Promise<string>>();

  async unload(key: string): Promise<void> {
    if (!this.models.delete(key)) return;
    await this.call({ op: 'release', session: key });
  }

  /** Releases every idle session (the server's `/free`). */
  async free(): Promise<void> {
    for (const key of [...this.models.keys()]) if (!this.busy.get(key)) await this.unload(key);
  }

  loaded(): LoadedModel[] {
    return [...this.models.values()];
  }

  /** Stops the worker; the manager can be used again afterwards (a new worker starts). */
  async close(): Promise<void> {
    this.models.clear();
    this.graphs.clear();
    await this.local?.releaseAll();
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

/** Errors that are about the model file itself, so trying another device would not help. */
function isModelProblem(reason: string): boolean {
  return /protobuf parsing failed|Load model .* failed|No such file|does not exist|invalid model|INVALID_PROTOBUF|INVALID_GRAPH|opset/i.test(reason);
}
