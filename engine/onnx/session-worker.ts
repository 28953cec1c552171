import { parentPort } from 'node:worker_threads';
import type { Request, Response, RunResult, SessionInfo } from './protocol.ts';
import { SessionStore } from './session-store.ts';

/** The model manager's worker thread: a SessionStore answering messages. */
const store = new SessionStore();
const port = parentPort!;

/** Output buffers move to the main thread instead of being copied. */
function transferables(value: SessionInfo | RunResult | null): ArrayBuffer[] {
  if (!value || !('runMs' in value)) return [];
  return [...new Set(Object.values(value.outputs).map((t) => t.data.buffer as ArrayBuffer))];
}

port.on('message', (req: Request) => {
  store.handle(req).then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies Response, transferables(value)),
    (e: unknown) => {
      const error = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
      port.postMessage({ id: req.id, ok: false, error } satisfies Response);
    },
  );
});
