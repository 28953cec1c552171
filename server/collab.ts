import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { docs, setPersistence, setupWSConnection, type WSSharedDoc } from '@y/websocket-server/utils';
import { WebSocketServer } from 'ws';
import * as Y from 'yjs';
import type { Logger } from '../engine/node.ts';
import { loadWorkflow, toWorkflow, workflowDoc, type NativeWorkflow } from '../editor/src/workflow-doc.ts';
import { parseWorkflow } from '../engine/workflow.ts';
import { checkWorkflowName, type WorkflowStore } from './workflow-store.ts';

/**
 * Live collaboration: one Yjs document per saved workflow, synced with the y-websocket protocol
 * at `/collab/<workflow-name>` (@y/websocket-server does the protocol and awareness).
 *
 * Persistence. Every document is stored as a Yjs update in `<data-dir>/collab/<name>.ystate`
 * and as the workflow file `<data-dir>/workflows/<name>.json` (what `/api/workflows` serves),
 * both written at most once a second while people edit, and when the last one leaves. A document
 * opened for the first time starts from the saved workflow of that name, else from the shipped
 * template of that name (`workflows/`), else empty. Loading is synchronous, so the first sync a
 * client receives already holds the content (clients never seed documents: two would duplicate it).
 */

const SAVE_DELAY_MS = 1000;

/** @y/websocket-server keeps its documents in one module-wide map: names carry their hub. */
const hubs = new Map<string, CollabHub>();
let persistenceSet = false;

function route(docName: string): { hub: CollabHub; name: string } | undefined {
  const at = docName.indexOf('/');
  const hub = hubs.get(docName.slice(0, at));
  return hub && { hub, name: docName.slice(at + 1) };
}

function installPersistence(): void {
  if (persistenceSet) return;
  persistenceSet = true;
  setPersistence({
    provider: null,
    bindState: (docName, doc) => route(docName)?.hub.bind(route(docName)!.name, doc),
    writeState: async (docName, doc) => route(docName)?.hub.save(route(docName)!.name, doc),
  });
}

export interface CollabOptions {
  /** Where the Yjs states live (`<data-dir>/collab`). */
  dir: string;
  workflows: WorkflowStore;
  /** Shipped workflows that seed a document of the same name. */
  templates: WorkflowStore;
  logger: Logger;
}

export class CollabHub {
  private readonly id = `hub${hubs.size}-${Date.now().toString(36)}`;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly opts: CollabOptions) {
    mkdirSync(opts.dir, { recursive: true });
    hubs.set(this.id, this);
    installPersistence();
  }

  /** Checks a `/collab/<name>` path; returns the workflow name or undefined. */
  static nameOf(pathname: string): string | undefined {
    const m = /^\/(?:api\/)?collab\/([^/]+)$/.exec(pathname);
    if (!m) return undefined;
    try {
      return checkWorkflowName(decodeURIComponent(m[1]));
    } catch {
      return undefined;
    }
  }

  accept(req: IncomingMessage, socket: Duplex, head: Buffer, name: string): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => setupWSConnection(ws, req, { docName: `${this.id}/${name}` }));
  }

  /** The live document of a workflow, if someone has it open. */
  liveDoc(name: string): Y.Doc | undefined {
    return docs.get(`${this.id}/${name}`);
  }

  private stateFile(name: string): string {
    return path.join(this.opts.dir, `${name}.ystate`);
  }

  /** Loads a document's content (synchronously) and saves it after changes. */
  bind(name: string, doc: WSSharedDoc): void {
    try {
      if (existsSync(this.stateFile(name))) Y.applyUpdate(doc, readFileSync(this.stateFile(name)));
      else {
        const seed = this.seed(name);
        if (seed) loadWorkflow(workflowDoc(doc), seed);
      }
    } catch (e) {
      this.opts.logger.error(`collaboration: could not load "${name}": ${(e as Error).message}`);
    }
    doc.on('update', () => this.scheduleSave(name, doc));
  }

  private seed(name: string): NativeWorkflow | undefined {
    const saved = this.opts.workflows.readSync(name) ?? this.opts.templates.readSync(name);
    return saved === undefined ? undefined : parseWorkflow(JSON.parse(saved));
  }

  private scheduleSave(name: string, doc: Y.Doc): void {
    if (this.timers.has(name)) return;
    this.timers.set(name, setTimeout(() => this.save(name, doc), SAVE_DELAY_MS));
  }

  /** Writes the Yjs state and the workflow file (atomically each). */
  save(name: string, doc: Y.Doc): void {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    try {
      const file = this.stateFile(name);
      writeFileSync(`${file}.tmp`, Y.encodeStateAsUpdate(doc));
      renameSync(`${file}.tmp`, file);
      this.opts.workflows.put(name, toWorkflow(workflowDoc(doc)));
    } catch (e) {
      this.opts.logger.error(`collaboration: could not save "${name}": ${(e as Error).message}`);
    }
  }

  /**
   * A workflow file was replaced through `/api/workflows`: an open document takes the new content
   * (everyone sees it), a closed one forgets its state and starts from the file next time.
   */
  replaced(name: string, workflow: NativeWorkflow): void {
    const live = this.liveDoc(name);
    if (live) loadWorkflow(workflowDoc(live), workflow, 'server');
    else rmSync(this.stateFile(name), { force: true });
  }

  /** A workflow file was deleted: its state goes too, unless people have it open (their next save restores it). */
  deleted(name: string): void {
    if (!this.liveDoc(name)) rmSync(this.stateFile(name), { force: true });
  }

  /** Saves what is pending and disconnects everyone. */
  async close(): Promise<void> {
    for (const [docName, doc] of docs) {
      const r = route(docName);
      if (r?.hub !== this) continue;
      this.save(r.name, doc);
      docs.delete(docName);
      doc.destroy(); // also stops its awareness timer, which would keep the process alive
    }
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    hubs.delete(this.id);
  }
}
