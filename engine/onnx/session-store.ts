import * as ort from 'onnxruntime-node';
import { newArray } from '../scratch.ts';
import { asFloat32, BYTES_PER_ELEMENT, castTo, halvesToFloats, sameDims, tensor, type DType, type Tensor, type TensorData } from '../tensor.ts';
import { GraphBuilder, type ElemType } from './graph-builder.ts';
import { createSession, prepareModel } from './model-repair.ts';
import type { Request, RunResult, SessionInfo, TensorInfo } from './protocol.ts';

/**
 * The ONNX Runtime sessions of one thread. `InferenceSession.create` and `run` are synchronous
 * native calls in onnxruntime-node, so whichever thread owns this store is blocked while they
 * run: the model manager keeps it on a worker thread, or in the engine's own thread when the
 * engine itself runs on a worker (EngineThread). Inputs are converted to each session input's
 * declared element type; float outputs come back as float32.
 */

// Failures reach the caller as exceptions; ORT's own log lines would only repeat them on stderr.
ort.env.logLevel = 'fatal';

function info(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

/**
 * ORT tensors of our tensors, by input type: a sampler feeds the same text embeddings and mask
 * to every step, so they are converted (and cast) once. Our tensors are never mutated. Where no
 * cast is needed, an ORT tensor only points at the data, so it is kept by the data array: a
 * model input stacked into the same scratch array every step reuses one (each costs
 * onnxruntime-common's checks).
 */
const converted = new WeakMap<Tensor, { type: string; value: ort.Tensor }>();
const viewing = new WeakMap<TensorData, ort.Tensor>();

function toOrt(t: Tensor, type: string): ort.Tensor {
  if (t.dtype === type) {
    const known = viewing.get(t.data);
    if (known?.type === type && sameDims(known.dims, t.dims)) return known;
    const value = new ort.Tensor(type as 'float32', t.data as Float32Array, [...t.dims]);
    viewing.set(t.data, value);
    return value;
  }
  const known = converted.get(t);
  if (known?.type === type) return known.value;
  const cast = castTo(t, type as DType);
  const value = new ort.Tensor(type as 'float32', cast.data as Float32Array, [...cast.dims]);
  converted.set(t, { type, value });
  return value;
}

function fromOrt(value: ort.Tensor): Tensor {
  // fp16 into a pooled array: a sampler's steps give theirs back (transient expansions).
  if (value.type === 'float16') return tensor('float32', value.dims, halvesToFloats(value.data as Uint16Array, newArray(value.data.length)));
  const t = tensor(value.type as DType, value.dims, value.data as TensorData);
  return value.type === 'float64' ? asFloat32(t) : t;
}

/**
 * A tensor that stays on the device (a WebGPU buffer) between model calls: fed to a session of
 * the same store it is read where it is; it comes back to the host only through `download`.
 * Whoever holds one disposes it (nothing frees device memory on garbage collection); disposing
 * twice is harmless. A session that is released disposes the tensors it made first (ONNX Runtime
 * crashes on a tensor disposed after its session), and such a tensor fails when used.
 */
export class DeviceTensor {
  constructor(value: ort.Tensor, readonly session: string) { ortTensors.set(this, value); }
  get dtype(): DType { return ortOf(this).type as DType; }
  get dims(): readonly number[] { return ortOf(this).dims; }
  get disposed(): boolean { return ortOf(this).location === 'none'; }
  dispose(): void { if (!this.disposed) ortOf(this).dispose(); }
}

/** Each device tensor's ONNX Runtime tensor, out of reach of nodes: its getData() would abort the process. */
const ortTensors = new WeakMap<DeviceTensor, ort.Tensor>();
const ortOf = (t: DeviceTensor): ort.Tensor => ortTensors.get(t)!;

export type Feed = Tensor | DeviceTensor;

/** Bytes that crossed between the host and devices (feeds from host memory; outputs read back). */
export interface Transfers { hostToDevice: number; deviceToHost: number }

/** Providers whose host inputs and outputs are copied to and from a device memory. */
const onADevice = (provider: string) => provider === 'webgpu' || provider === 'cuda';
const byteLength = (t: ort.Tensor) => t.dims.reduce((n, d) => n * d, 1) * BYTES_PER_ELEMENT[t.type as DType];

/**
 * Whether sessions on a provider can keep their outputs on the device. onnxruntime-node binds
 * 'gpu-buffer' outputs to WebGPU buffers only; its CUDA provider returns host tensors.
 */
const keepsOutputsOnDevice = (provider: string) => provider === 'webgpu';

export class SessionStore {
  private readonly sessions = new Map<string, { session: ort.InferenceSession; provider: string; onDevice: boolean }>();
  /** Device tensors not yet disposed, by the session that made them. */
  private readonly live = new Map<string, Set<DeviceTensor>>();
  readonly transfers: Transfers = { hostToDevice: 0, deviceToHost: 0 };

  async create(req: Extract<Request, { op: 'create' }>): Promise<SessionInfo> {
    // The path, or a repaired copy of an export ORT would refuse; or a graph built in memory.
    const model = req.bytes ? { path: req.path, bytes: req.bytes } : prepareModel(req.path);
    const onDevice = req.outputs === 'device' && keepsOutputsOnDevice(req.provider);
    const session = await createSession(model, {
      executionProviders: [req.provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,
      // ONNX Runtime's pool threads spin after a run by default, waiting for the next one: measured
      // here, a whole core for as long as our JavaScript runs between model calls (5 ms of JS cost
      // 5 ms of another core; 0.7 ms with this), which the engine thread's GC helpers, the server
      // thread and PNG compression then fight over. Spinning within a run stays on (same speed).
      extra: { session: { force_spinning_stop: '1' } },
      ...(req.threads ? { intraOpNumThreads: req.threads } : {}),
      ...(onDevice ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
    await this.release({ op: 'release', session: req.session, id: 0 });
    this.sessions.set(req.session, { session, provider: req.provider, onDevice });
    return {
      inputs: info(session.inputMetadata), outputs: info(session.outputMetadata), provider: req.provider, outputsOnDevice: onDevice,
      ...('repaired' in model && model.repaired ? { repaired: model.repaired } : {}),
    };
  }

  /**
   * Runs a session with host tensors and returns host tensors (float outputs as float32). A
   * session that keeps its outputs on the device has them read back here. A promise chain, not an
   * async function: see ModelManager.run. Never throws: it rejects.
   */
  run(req: Extract<Request, { op: 'run' }>): Promise<RunResult> {
    const started = performance.now();
    let entry;
    try {
      entry = this.entry(req.session);
    } catch (e) {
      return Promise.reject(e);
    }
    const { onDevice, provider } = entry;
    return this.runRaw(req.session, req.feeds).then((results) => {
      const runMs = performance.now() - started;
      if (!onDevice) {
        const outputs: Record<string, Tensor> = {};
        for (const name in results) {
          outputs[name] = fromOrt(results[name]);
          if (onADevice(provider)) this.transfers.deviceToHost += byteLength(results[name]);
        }
        return { outputs, runMs };
      }
      return this.downloadAll(req.session, results).then((outputs) => ({ outputs, runMs }));
    });
  }

  /** Runs a session whose outputs stay on the device (`outputs: 'device'` at creation). */
  runOnDevice(key: string, feeds: Readonly<Record<string, Feed>>): Promise<{ outputs: Record<string, DeviceTensor>; runMs: number }> {
    try {
      if (!this.entry(key).onDevice) throw new Error(`session ${key} returns its outputs to the host`);
    } catch (e) {
      return Promise.reject(e);
    }
    const started = performance.now();
    return this.runRaw(key, feeds).then((results) => {
      const outputs: Record<string, DeviceTensor> = {};
      for (const name in results) outputs[name] = this.adopt(key, results[name]);
      return { outputs, runMs: performance.now() - started };
    });
  }

  /**
   * Copies a host tensor to the device of a device session's provider, once (e.g. text embeddings
   * every step reads), cast to `dtype` on the host first.
   */
  upload(t: Tensor, dtype: DType, provider: string): Promise<DeviceTensor> {
    return this.identity(dtype, provider, 'device').then((key) => this.runOnDevice(key, { x: t })).then(({ outputs }) => outputs.y);
  }

  /** Reads a device tensor back (float outputs as float32). The tensor stays valid. */
  download(t: DeviceTensor): Promise<Tensor> {
    if (t.disposed) return Promise.reject(new Error('the device tensor was disposed'));
    const provider = this.sessions.get(t.session)?.provider;
    if (!provider) return Promise.reject(new Error(`the device tensor's session ${t.session} was released`));
    // Never getData(): onnxruntime-node's download of a WebGPU tensor throws a C string that
    // nothing catches, which aborts the process. A session with host outputs copies it instead.
    return this.identity(t.dtype, provider, 'host').then((key) => this.runRaw(key, { x: t })).then((r) => {
      this.transfers.deviceToHost += byteLength(r.y);
      return fromOrt(r.y);
    });
  }

  private downloadAll(key: string, results: Record<string, ort.Tensor>): Promise<Record<string, Tensor>> {
    const names = Object.keys(results);
    const owned = names.map((name) => this.adopt(key, results[name]));
    return Promise.all(owned.map((t) => this.download(t))).then(
      (host) => { owned.forEach((t) => this.disown(t)); return Object.fromEntries(names.map((n, i) => [n, host[i]])); },
      (e: unknown) => { owned.forEach((t) => this.disown(t)); throw e; },
    );
  }

  private runRaw(key: string, feeds: Readonly<Record<string, Feed>>): Promise<Record<string, ort.Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    try {
      const { session, provider } = this.entry(key);
      const device = onADevice(provider);
      for (const meta of session.inputMetadata) {
        const given = feeds[meta.name];
        if (!given) throw new Error(`input "${meta.name}" is missing`);
        if (given instanceof DeviceTensor) {
          if (given.disposed) throw new Error(`input "${meta.name}" is a device tensor that was disposed`);
          if (!device) throw new Error(`input "${meta.name}" is on the device but the session runs on ${provider}`);
          ortFeeds[meta.name] = ortOf(given);
          continue;
        }
        const value = toOrt(given, meta.isTensor ? meta.type : 'float32');
        ortFeeds[meta.name] = value;
        if (device) this.transfers.hostToDevice += byteLength(value);
      }
      return session.run(ortFeeds) as Promise<Record<string, ort.Tensor>>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private adopt(key: string, value: ort.Tensor): DeviceTensor {
    const t = new DeviceTensor(value, key);
    let set = this.live.get(key);
    if (!set) this.live.set(key, (set = new Set()));
    set.add(t);
    return t;
  }

  private disown(t: DeviceTensor): void {
    t.dispose();
    this.live.get(t.session)?.delete(t);
  }

  /** Sessions that copy a tensor to the device, or back, per element type and provider. */
  private readonly identities = new Map<string, Promise<string>>();
  private identity(dtype: DType, provider: string, outputs: 'device' | 'host'): Promise<string> {
    const key = `#identity:${dtype}:${provider}:${outputs}`;
    let made = this.identities.get(key);
    if (!made) {
      const g = new GraphBuilder({ seed: 0, name: 'identity' });
      g.input('x', dtype as ElemType, null); // any shape
      g.output(g.op1('Identity', ['x']), 'y', dtype as ElemType, null);
      made = this.create({ op: 'create', id: 0, session: key, path: key, provider, outputs, bytes: g.toBytes() }).then(() => key);
      made.catch(() => this.identities.delete(key));
      this.identities.set(key, made);
    }
    return made;
  }

  private entry(key: string) {
    const entry = this.sessions.get(key);
    if (!entry) throw new Error(`session ${key} is not loaded`);
    return entry;
  }

  async release(req: Extract<Request, { op: 'release' }>): Promise<null> {
    const entry = this.sessions.get(req.session);
    if (!entry) return null;
    for (const t of this.live.get(req.session) ?? []) t.dispose();
    this.live.delete(req.session);
    this.sessions.delete(req.session);
    await entry.session.release();
    return null;
  }

  handle(req: Request): Promise<SessionInfo | RunResult | null> {
    switch (req.op) {
      case 'create': return this.create(req);
      case 'run': return this.run(req);
      case 'release': return this.release(req);
    }
  }

  async releaseAll(): Promise<void> {
    for (const key of [...this.sessions.keys()]) await this.release({ op: 'release', session: key, id: 0 });
    this.identities.clear();
  }
}
