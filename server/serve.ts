import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { stderrLogger } from '../engine/engine.ts';
import type { Logger } from '../engine/node.ts';
import type { EngineSetupOptions } from '../nodes/engine-setup.ts';
import { createApp } from './app.ts';
import { bindingProblem, foreignRequest, isAuthorized } from './auth.ts';
import type { ServerContext } from './context.ts';
import { EngineHost } from './engine-host.ts';
import type { QueueFront } from './queue.ts';
import { PromptRunner } from './runner.ts';
import { DataDirInUseError, SqliteQueue } from './sqlite-queue.ts';
import { WorkflowStore } from './workflow-store.ts';
import { ClientHub } from './ws.ts';
import { stopOnSignal } from './stop-on-signal.ts';
import { CollabHub } from './collab.ts';
import { TEMPLATES_DIR } from './static-dirs.ts';

/** Starting and stopping the server; `sanagraph serve` calls `serve`. */
export interface ServerOptions {
  /** Address to listen on (default 127.0.0.1). Anything but loopback needs `token`. */
  host?: string;
  /** Port (default 8188; 0 lets the system pick one). */
  port?: number;
  /** Where the SQLite file (queue + history), saved workflows and temp files live (default ./data). */
  dataDir?: string;
  token?: string;
  /** Allow this one origin (e.g. `http://localhost:5173`) with CORS; off by default. */
  corsOrigin?: string;
  /** Include stack traces in error answers and `execution_error` events. */
  debug?: boolean;
  /** Pending prompts allowed at once (default 10,000); more get 429. */
  maxQueue?: number;
  /** History entries kept (default 10,000, ComfyUI's limit). */
  historySize?: number;
  /** Largest accepted upload (default 32 MiB) and JSON body (default 16 MiB). */
  maxUploadBytes?: number;
  maxJsonBytes?: number;
  /** The engine's folders and settings (output, input, temp, models, custom nodes, cache, threads). */
  engine?: EngineSetupOptions;
  /** A Redis URL: prompts go on a BullMQ queue that `sanagraph worker`s take (docs/scaling.md) instead of running here. */
  queue?: string;
  /** With `queue`: run a worker in this process too, with `engine`'s settings. */
  localWorker?: boolean;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  port: number;
  context: ServerContext;
  close(): Promise<void>;
}

/** A setting that keeps the server from starting; the message says what to do. */
export class ServerConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ServerConfigError'; }
}

function checkCorsOrigin(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  let parsed: URL | undefined;
  try { parsed = new URL(origin); } catch { /* reported below */ }
  if (!parsed || parsed.origin !== origin) throw new ServerConfigError(`--cors-origin must be an origin such as http://localhost:5173 (scheme, host and port only), got "${origin}"`);
  return origin;
}

/** The data directory and the engine's folders (which `/view` and uploads use), resolved. */
function folders(opts: ServerOptions) {
  const dataDir = path.resolve(opts.dataDir ?? 'data');
  const defaultTemp = path.join(dataDir, 'temp');
  const dirs = {
    output: path.resolve(opts.engine?.outputDir ?? 'output'),
    input: path.resolve(opts.engine?.inputDir ?? 'input'),
    temp: path.resolve(opts.engine?.tempDir ?? defaultTemp),
  };
  return { dataDir, dirs, defaultTemp };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new ServerConfigError(`${host}:${port} is already in use (choose another --port)`)
        : e.code === 'EADDRNOTAVAIL' ? new ServerConfigError(`cannot listen on ${host}: no such address on this machine`) : e);
    });
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

/** WebSocket upgrades: only at /ws (and /api/ws) and /collab/<workflow>, same origin, with the token when one is set. */
function upgrade(ctx: ServerContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {});
  const refuse = (status: string) => socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  const collabName = CollabHub.nameOf(pathname);
  if (pathname !== '/ws' && pathname !== '/api/ws' && !collabName) refuse('404 Not Found');
  else if (foreignRequest(req, ctx.corsOrigin, ctx.token)) refuse('403 Forbidden');
  else if (ctx.token && !isAuthorized(req, ctx.token, true)) refuse('401 Unauthorized');
  else if (collabName) ctx.collab!.accept(req, socket, head, collabName);
  else ctx.hub.accept(req, socket, head);
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? stderrLogger;
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token || undefined;
  const problem = bindingProblem(host, token);
  if (problem) throw new ServerConfigError(problem);
  if (token && token.length < 16) logger.warn('the token is shorter than 16 characters: use a long random one (e.g. `openssl rand -hex 24`)');
  const corsOrigin = checkCorsOrigin(opts.corsOrigin);
  const { dataDir, dirs, defaultTemp } = folders(opts);
  const limits = { uploadBytes: opts.maxUploadBytes ?? 32 * 2 ** 20, jsonBytes: opts.maxJsonBytes ?? 16 * 2 ** 20 };
  mkdirSync(dataDir, { recursive: true });
  // Opening the store takes the data directory's lock: nothing below runs for a second server.
  const maxQueue = opts.maxQueue ?? 10_000;
  const store = new SqliteQueue(path.join(dataDir, 'sanagraph.db'), { maxPending: maxQueue, historySize: opts.historySize ?? 10_000 });
  let engine: EngineHost;
  try {
    // Temp files belong to past runs; clear ours at startup as ComfyUI does (never a folder we were pointed at).
    if (dirs.temp === defaultTemp) rmSync(defaultTemp, { recursive: true, force: true });
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
    if (!opts.queue) {
      const recovered = await store.recover();
      if (recovered) logger.info(`re-queued ${recovered} prompt(s) that were running when the server stopped`);
    } else {
      const left = await store.remaining();
      if (left) logger.warn(`${left} prompt(s) queued without --queue wait in ${dataDir}: they run when the server starts without --queue`);
    }
    engine = await EngineHost.create({ ...opts.engine, outputDir: dirs.output, inputDir: dirs.input, tempDir: dirs.temp, debug: opts.debug }, logger);
  } catch (e) {
    await store.close();
    throw e;
  }
  const features = { supports_preview_metadata: false, max_upload_size: limits.uploadBytes };
  let queue: QueueFront = store;
  const hub = new ClientHub({ queueRemaining: () => queue.remaining(), features });
  const distributed = opts.queue ? await distributedQueue(opts, { hub, store, dirs, dataDir, maxQueue, logger }, () => engine.close().then(() => store.close())) : undefined;
  if (distributed) queue = distributed.cluster.queue;
  queue.subscribe(() => hub.queueChanged());
  // With a distributed queue the workers run the prompts: no local runner.
  const runner = distributed ? undefined : new PromptRunner(store, engine, hub, logger);
  const workflows = new WorkflowStore(path.join(dataDir, 'workflows'));
  const templates = new WorkflowStore(TEMPLATES_DIR, 'template');
  const collab = new CollabHub({ dir: path.join(dataDir, 'collab'), workflows, templates, logger });
  const context: ServerContext = {
    engine, queue, history: store, runner: distributed?.cluster ?? runner!, cluster: distributed?.cluster, hub, workflows, templates, collab,
    dirs, features, limits, token, corsOrigin, debug: opts.debug ?? false, logger, startedAt: Date.now(),
  };
  const server = createServer(createApp(context));
  server.on('upgrade', (req, socket, head) => upgrade(context, req, socket, head));
  let port: number;
  try {
    port = await listen(server, opts.port ?? 8188, host);
  } catch (e) {
    await distributed?.close();
    await engine.close();
    await store.close();
    throw e;
  }
  runner?.start();
  let closing: Promise<void> | undefined;
  const close = () => closing ??= (async () => {
    server.close();
    await hub.close();
    await collab.close();
    await runner?.stop(); // the running prompt stays queued and runs again at the next start
    await distributed?.close();
    server.closeAllConnections();
    await engine.close();
    await store.close();
  })();
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, context, close };
}

/** `--queue`: the distributed queue (its modules load only then); a Redis problem is a ServerConfigError. */
async function distributedQueue(opts: ServerOptions, parts: { hub: ClientHub; store: SqliteQueue; dirs: { output: string; temp: string; input: string }; dataDir: string; maxQueue: number; logger: Logger }, cleanup: () => Promise<void>) {
  const setup = await import('./distributed/setup.ts');
  try {
    return await setup.startDistributed({
      url: opts.queue!, history: parts.store, hub: parts.hub, dirs: parts.dirs, maxPending: parts.maxQueue, dataDir: parts.dataDir, logger: parts.logger,
      localWorker: opts.localWorker ? { engine: { ...opts.engine, inputDir: parts.dirs.input, debug: opts.debug } } : undefined,
    });
  } catch (e) {
    await cleanup();
    throw e instanceof setup.QueueConnectionError ? new ServerConfigError(e.message) : e;
  }
}

/** `sanagraph serve`: starts, prints the address, stops cleanly on SIGINT/SIGTERM. Returns the exit code. */
export async function serve(opts: ServerOptions): Promise<number> {
  let server: RunningServer;
  try {
    server = await startServer({ ...opts, token: opts.token ?? process.env.SANAGRAPH_TOKEN });
  } catch (e) {
    if (e instanceof ServerConfigError || e instanceof DataDirInUseError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
  // Handlers first, then the line that tells a supervisor (or a test) that we are up.
  const stopped = stopOnSignal(() => server.close(), 'the running prompt, if any, will run again at the next start');
  console.log(`sanagraph server listening on ${server.url}`);
  await stopped;
  // Whatever still holds the event loop (a stuck client socket) must not keep a stopped server alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
