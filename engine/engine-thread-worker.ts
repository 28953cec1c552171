import { parentPort, workerData } from 'node:worker_threads';
import type { Engine } from './engine.ts';
import type { EngineEvent } from './events.ts';
import { WorkflowValidationError } from './validate.ts';
import { WorkflowFormatError } from './workflow.ts';

/** The engine thread: builds the engine with the setup module, then runs what the host asks. */
interface Setup {
  createEngine(options: unknown): Promise<{ engine: Engine; commands?: Record<string, (args: unknown) => unknown> }>;
}

const port = parentPort!;
const { setup, options } = workerData as { setup: string; options: unknown };
const { engine, commands = {} } = await ((await import(setup)) as Setup).createEngine(options);
const running = new Map<number, AbortController>();

/**
 * Events go out in batches, at most one message every FLUSH_EVERY_MS: a sampler step emits
 * several events, and a message costs more than a node does. Each message wakes the host
 * thread, which then competes with ONNX Runtime's threads for the cores: on our 2-core VM a
 * message sent while a model runs cost ~90 µs of this thread's time, 2.3 ms over a tiny
 * 20-step run when every step sent one (a third of the time outside ONNX Runtime). A workflow
 * node's `executing` goes out at once, so the host knows what is running even when that node
 * then keeps the thread busy for a while (encoding a PNG, say).
 */
const FLUSH_EVERY_MS = 10;
let outbox: { id: number; event: unknown }[] = [];
let lastFlush = 0;
function post(id: number, event: EngineEvent): void {
  if (outbox.length === 0) {
    const wait = lastFlush + FLUSH_EVERY_MS - performance.now();
    if (wait > 0) setTimeout(flush, wait);
    else setImmediate(flush);
  }
  outbox.push({ id, event });
  if (event.type === 'executing' && event.data.node === event.data.display_node) flush();
}
function flush(): void {
  if (outbox.length === 0) return;
  port.postMessage({ kind: 'events', events: outbox });
  outbox = [];
  lastFlush = performance.now();
}

function failure(id: number, e: unknown) {
  const error = e as Error;
  port.postMessage({
    kind: 'failed', id,
    error: {
      name: error?.name ?? 'Error', message: error?.message ?? String(e),
      problems: e instanceof WorkflowValidationError ? e.problems : undefined,
      issues: e instanceof WorkflowFormatError ? e.issues : undefined,
    },
  });
}

port.on('message', (msg: { op: string; id: number; [k: string]: unknown }) => {
  if (msg.op === 'interrupt') {
    running.get(msg.id)?.abort();
    return;
  }
  if (msg.op === 'execute') {
    const controller = new AbortController();
    running.set(msg.id, controller);
    engine.execute(msg.workflow, {
      signal: controller.signal,
      promptId: msg.promptId as string | undefined,
      targets: msg.targets as string[] | undefined,
      onEvent: (event) => post(msg.id, event),
    }).then(
      (result) => { flush(); port.postMessage({ kind: 'done', id: msg.id, result }); },
      (e) => { flush(); failure(msg.id, e); },
    ).finally(() => running.delete(msg.id));
    return;
  }
  if (msg.op === 'command') {
    const command = commands[msg.name as string];
    if (!command) {
      failure(msg.id, new Error(`the engine thread has no command "${msg.name as string}"`));
      return;
    }
    Promise.resolve().then(() => command(msg.args)).then(
      (result) => port.postMessage({ kind: 'done', id: msg.id, result }),
      (e) => failure(msg.id, e),
    );
  }
});

port.postMessage({ kind: 'ready' });
