import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { asFloat32, castTo, tensor, type DType, type Tensor, type TensorData } from '../tensor.ts';
import type { Request, Response, RunResult, SessionInfo, TensorInfo } from './protocol.ts';

/**
 * Owns the ONNX Runtime sessions. `InferenceSession.create` and `run` are synchronous native
 * calls in onnxruntime-node, so they live on this thread and the main event loop stays free.
 * Inputs are converted to each session input's declared element type; float outputs come back
 * as float32.
 */
// Failures reach the caller as exceptions; ORT's own log lines would only repeat them on stderr.
ort.env.logLevel = 'fatal';
const sessions = new Map<string, ort.InferenceSession>();
const port = parentPort!;

function info(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

async function create(req: Extract<Request, { op: 'create' }>): Promise<SessionInfo> {
  const session = await ort.InferenceSession.create(req.path, {
    executionProviders: [req.provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    ...(req.threads ? { intraOpNumThreads: req.threads } : {}),
  });
  sessions.get(req.session)?.release();
  sessions.set(req.session, session);
  return { inputs: info(session.inputMetadata), outputs: info(session.outputMetadata), provider: req.provider };
}

function toOrt(t: Tensor, type: string): ort.Tensor {
  const cast = castTo(t, type as DType);
  return new ort.Tensor(type as 'float32', cast.data as Float32Array, [...cast.dims]);
}

function fromOrt(value: ort.Tensor): Tensor {
  const t = tensor(value.type as DType, value.dims, value.data as TensorData);
  return value.type === 'float16' || value.type === 'float64' ? asFloat32(t) : t;
}

async function run(req: Extract<Request, { op: 'run' }>): Promise<RunResult> {
  const session = sessions.get(req.session);
  if (!session) throw new Error(`session ${req.session} is not loaded`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    const given = req.feeds[meta.name];
    if (!given) throw new Error(`input "${meta.name}" is missing`);
    feeds[meta.name] = toOrt(given, meta.isTensor ? meta.type : 'float32');
  }
  const started = performance.now();
  const results = await session.run(feeds);
  const runMs = performance.now() - started;
  const outputs: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(results)) outputs[name] = fromOrt(value as ort.Tensor);
  return { outputs, runMs };
}

async function handle(req: Request): Promise<SessionInfo | RunResult | null> {
  switch (req.op) {
    case 'create': return create(req);
    case 'run': return run(req);
    case 'release':
      await sessions.get(req.session)?.release();
      sessions.delete(req.session);
      return null;
  }
}

/** Output buffers move to the main thread instead of being copied. */
function transferables(value: SessionInfo | RunResult | null): ArrayBuffer[] {
  if (!value || !('runMs' in value)) return [];
  return [...new Set(Object.values(value.outputs).map((t) => t.data.buffer as ArrayBuffer))];
}

port.on('message', (req: Request) => {
  handle(req).then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies Response, transferables(value)),
    (e: unknown) => {
      const error = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
      port.postMessage({ id: req.id, ok: false, error } satisfies Response);
    },
  );
});
