import * as ort from 'onnxruntime-node';
import { asFloat32, castTo, sameDims, tensor, type DType, type Tensor, type TensorData } from '../tensor.ts';
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
  const t = tensor(value.type as DType, value.dims, value.data as TensorData);
  return value.type === 'float16' || value.type === 'float64' ? asFloat32(t) : t;
}

export class SessionStore {
  private readonly sessions = new Map<string, ort.InferenceSession>();

  async create(req: Extract<Request, { op: 'create' }>): Promise<SessionInfo> {
    const model = prepareModel(req.path); // the path, or a repaired copy of an export ORT would refuse
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
    });
    await this.sessions.get(req.session)?.release();
    this.sessions.set(req.session, session);
    return { inputs: info(session.inputMetadata), outputs: info(session.outputMetadata), provider: req.provider, ...(model.repaired ? { repaired: model.repaired } : {}) };
  }

  /** A promise chain, not an async function: see ModelManager.run. Never throws: it rejects. */
  run(req: Extract<Request, { op: 'run' }>): Promise<RunResult> {
    const feeds: Record<string, ort.Tensor> = {};
    let session: ort.InferenceSession;
    try {
      session = this.session(req.session);
      for (const meta of session.inputMetadata) {
        const given = req.feeds[meta.name];
        if (!given) throw new Error(`input "${meta.name}" is missing`);
        feeds[meta.name] = toOrt(given, meta.isTensor ? meta.type : 'float32');
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const started = performance.now();
    return session.run(feeds).then((results) => {
      const runMs = performance.now() - started;
      const outputs: Record<string, Tensor> = {};
      for (const name in results) outputs[name] = fromOrt(results[name]);
      return { outputs, runMs };
    });
  }

  private session(key: string): ort.InferenceSession {
    const session = this.sessions.get(key);
    if (!session) throw new Error(`session ${key} is not loaded`);
    return session;
  }

  async release(req: Extract<Request, { op: 'release' }>): Promise<null> {
    await this.sessions.get(req.session)?.release();
    this.sessions.delete(req.session);
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
    for (const session of this.sessions.values()) await session.release();
    this.sessions.clear();
  }
}
