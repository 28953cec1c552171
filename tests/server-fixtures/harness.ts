/**
 * Helpers for the server tests: a real server on a loopback port the system picks, in fresh
 * temp folders, with the test nodes loaded; HTTP through fetch; a real WebSocket client.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { startServer, type RunningServer, type ServerOptions } from '../../server/serve.ts';
import { quietLogger, tempDir } from '../helpers.ts';

export const CUSTOM_NODES = fileURLToPath(new URL('./custom-nodes', import.meta.url));

export interface TestServer extends RunningServer {
  dataDir: string;
  get(route: string, headers?: Record<string, string>): Promise<Reply>;
  post(route: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
}

export async function startTestServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dataDir = tempDir('sanagraph-server-');
  const server = await startServer({
    port: 0, dataDir, logger: quietLogger, ...opts,
    engine: {
      outputDir: path.join(dataDir, 'output'), inputDir: path.join(dataDir, 'input'), tempDir: path.join(dataDir, 'tmp'),
      // The tiny test models live in the OS temp folder, outside this server's models folder.
      modelsDir: dataDir, customNodes: [CUSTOM_NODES], confinePaths: false, ...opts.engine,
    },
  });
  return {
    ...server,
    dataDir,
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
    get: (route, headers) => request(server.url + route, { headers }),
    post: (route, body, headers) => postJson(server.url + route, body, headers),
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body (undefined when it is not JSON); `any` keeps the assertions short. */
  json: any;
}

export async function request(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** POSTs JSON (a string is sent as it is, for malformed bodies). */
export function postJson(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** ComfyUI API format: SlowText(value, ms, steps) → ShowText. Output node "2" shows "value <value>". */
export function slowPrompt(value: number, ms = 0, steps = 1) {
  return {
    1: { class_type: 'SlowText', inputs: { value, ms, steps }, _meta: { title: `slow ${value}` } },
    2: { class_type: 'ShowText', inputs: { text: ['1', 0] } },
  };
}

/** Native format, model-free and cheap: PrimitiveInt(i) → FormatText "n={}" → ShowText (node "3"). */
export function cheapPrompt(i: number) {
  return {
    format: 'sanagraph/workflow@1',
    nodes: {
      1: { type: 'PrimitiveInt', inputs: { value: i } },
      2: { type: 'FormatText', inputs: { template: 'n={}', value: ['1', 0] } },
      3: { type: 'ShowText', inputs: { text: ['2', 0] } },
    },
  };
}

/** Waits until `check` gives something truthy, and returns that. */
export async function waitUntil<T>(check: () => Promise<T> | T, what: string, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits until nothing is queued or running. */
export async function waitForIdle(base: string, headers?: Record<string, string>): Promise<void> {
  await waitUntil(async () => (await request(`${base}/prompt`, { headers })).json?.exec_info?.queue_remaining === 0, 'an empty queue');
}

export interface Message { type: string; data: any }

/** A WebSocket client that records every message and frame, and can wait for one. */
export class WsClient {
  readonly messages: Message[] = [];
  readonly frames: Buffer[] = [];
  /** Everyone waiting in `next` (several may wait at once). */
  private readonly waiting = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.frames.push(data as Buffer);
      else this.messages.push(JSON.parse(String(data)) as Message);
      for (const wake of this.waiting) wake();
    });
  }

  static connect(base: string, opts: { clientId?: string; headers?: Record<string, string>; query?: string } = {}): Promise<WsClient> {
    const url = `${base.replace(/^http/, 'ws')}/ws${opts.clientId ? `?clientId=${opts.clientId}` : ''}${opts.query ? `${opts.clientId ? '&' : '?'}${opts.query}` : ''}`;
    const ws = new WebSocket(url, { headers: opts.headers });
    return new Promise((resolve, reject) => {
      const client = new WsClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /** The first message (at or after index `from`) that matches. */
  async next(match: (m: Message) => boolean, from = 0, timeoutMs = 60_000): Promise<Message> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      if (Date.now() > end) throw new Error(`timed out waiting for a WebSocket message; got ${this.messages.map((m) => m.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const wake = () => { this.waiting.delete(wake); clearTimeout(timer); resolve(); };
        const timer = setTimeout(wake, Math.max(0, end - Date.now()) + 1);
        this.waiting.add(wake);
      });
    }
  }

  /** Messages about one prompt (every type but `status`). */
  about(promptId: string): Message[] {
    return this.messages.filter((m) => m.data?.prompt_id === promptId);
  }

  close(): void {
    this.ws.close();
  }
}
