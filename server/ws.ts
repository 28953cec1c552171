import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * The WebSocket side of ComfyUI's protocol. Clients connect to `/ws?clientId=<id>` (a missing id
 * gets a random one, announced in the first `status` message as `sid`). JSON messages are
 * `{type, data}`; binary frames start with a 4-byte big-endian event type.
 *
 * A message about a prompt goes to the client that queued it (its `client_id`), or to everyone
 * when the prompt has none; `status` (queue length) goes to everyone.
 */
export const BinaryEvent = { PREVIEW_IMAGE: 1, UNENCODED_PREVIEW_IMAGE: 2, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 } as const;

/** ComfyUI's PREVIEW_IMAGE frame: event type 1, image type (1 JPEG, 2 PNG), then the encoded image. */
export function previewFrame(format: 'jpeg' | 'png', image: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(8 + image.length);
  frame.writeUInt32BE(BinaryEvent.PREVIEW_IMAGE, 0);
  frame.writeUInt32BE(format === 'jpeg' ? 1 : 2, 4);
  frame.set(image, 8);
  return frame;
}

export interface HubOptions {
  /** `queue_remaining` for `status` messages. */
  queueRemaining: () => Promise<number>;
  /** What the server answers to a client's `feature_flags` message (and `GET /features`). */
  features: Record<string, unknown>;
  /** A client with more unsent bytes than this is dropped: a stalled reader must not hold our memory. */
  maxBufferedBytes?: number;
  /** Seconds between pings; a client that has not answered the last one is dropped. */
  heartbeatSeconds?: number;
}

const MAX_CLIENT_ID = 256;

export class ClientHub {
  private readonly clients = new Map<string, WebSocket>();
  private readonly alive = new WeakSet<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  private readonly heartbeat: NodeJS.Timeout;
  private statusDirty = false;
  /** The node running now and who asked for it, so a client that reconnects learns it at once. */
  private executing?: { sid?: string; data: Record<string, unknown> };

  constructor(private readonly options: HubOptions) {
    this.heartbeat = setInterval(() => this.ping(), (options.heartbeatSeconds ?? 30) * 1000).unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over an HTTP upgrade request that has already passed the auth and origin checks. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const requested = new URL(req.url ?? '/', 'http://localhost').searchParams.get('clientId') ?? '';
    this.wss.handleUpgrade(req, socket, head, (ws) => this.add(ws, requested.slice(0, MAX_CLIENT_ID)));
  }

  private add(ws: WebSocket, requested: string): void {
    // A known id replaces the old connection (a page that reconnects), as ComfyUI does.
    const sid = requested || randomUUID().replaceAll('-', '');
    this.clients.set(sid, ws);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    ws.on('error', () => {});
    ws.on('close', () => { if (this.clients.get(sid) === ws) this.clients.delete(sid); });
    let first = true;
    ws.on('message', (data, isBinary) => {
      // The only client message ComfyUI reads: `feature_flags`, as the first message.
      if (first && !isBinary && parseType(data) === 'feature_flags') this.write(ws, JSON.stringify({ type: 'feature_flags', data: this.options.features }));
      first = false;
    });
    this.options.queueRemaining().then((n) => {
      this.write(ws, JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: n } }, sid } }));
      if (this.executing && this.executing.sid === sid) this.write(ws, JSON.stringify({ type: 'executing', data: this.executing.data }));
    }, () => {});
  }

  /** A JSON message to one client (`sid`), or to all when `sid` is undefined. Serialized once. */
  send(type: string, data: Record<string, unknown>, sid?: string): void {
    if (type === 'executing') this.executing = data.node == null ? undefined : { sid, data };
    this.deliver(JSON.stringify({ type, data }), sid);
  }

  sendPreview(format: 'jpeg' | 'png', image: Uint8Array, sid?: string): void {
    this.deliver(previewFrame(format, image), sid);
  }

  private deliver(message: string | Buffer, sid: string | undefined): void {
    if (sid !== undefined) {
      const ws = this.clients.get(sid);
      if (ws) this.write(ws, message);
      return;
    }
    for (const ws of this.clients.values()) this.write(ws, message);
  }

  private write(ws: WebSocket, message: string | Buffer): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > (this.options.maxBufferedBytes ?? 16 * 2 ** 20)) {
      ws.terminate();
      return;
    }
    ws.send(message);
  }

  /** The queue changed: one `status` per turn of the event loop, however many changes it saw. */
  queueChanged(): void {
    if (this.statusDirty) return;
    this.statusDirty = true;
    setImmediate(() => { void this.flushStatus(); });
  }

  /** A prompt is done: the pending `status`, then `executing: null` (the order ComfyUI uses). */
  async promptDone(promptId: string, sid: string | undefined): Promise<void> {
    await this.flushStatus();
    this.send('executing', { node: null, prompt_id: promptId }, sid);
  }

  /** Sends a pending `status` now. */
  private async flushStatus(): Promise<void> {
    if (!this.statusDirty) return;
    this.statusDirty = false;
    const n = await this.options.queueRemaining().catch(() => undefined);
    if (n !== undefined) this.send('status', { status: { exec_info: { queue_remaining: n } } });
  }

  private ping(): void {
    for (const ws of this.clients.values()) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const ws of this.clients.values()) ws.close(1001, 'server shutting down');
    this.wss.close();
    // Clients that do not answer the close handshake promptly are cut off.
    await new Promise((resolve) => setTimeout(resolve, this.clients.size ? 100 : 0).unref());
    for (const ws of this.clients.values()) ws.terminate();
    this.clients.clear();
  }
}

function parseType(data: unknown): unknown {
  try {
    return (JSON.parse(String(data)) as { type?: unknown })?.type;
  } catch {
    return undefined;
  }
}
