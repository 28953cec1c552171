import type { Logger } from '../engine/node.ts';
import type { CollabHub } from './collab.ts';
import type { EngineHost } from './engine-host.ts';
import type { HistoryStore, PromptQueue } from './queue.ts';
import type { PromptRunner } from './runner.ts';
import type { WorkflowStore } from './workflow-store.ts';
import type { ClientHub } from './ws.ts';

/** What the routes work with: one of each per server. */
export interface ServerContext {
  engine: EngineHost;
  queue: PromptQueue;
  history: HistoryStore;
  runner: PromptRunner;
  hub: ClientHub;
  workflows: WorkflowStore;
  /** Live collaborative documents of the saved workflows (the editor's `/collab/<name>`). */
  collab?: CollabHub;
  /** The folders `/view` serves and `/upload/image` writes: the engine's own. */
  dirs: { input: string; output: string; temp: string };
  /** ComfyUI's server feature flags (`GET /features`, the WebSocket `feature_flags` answer). */
  features: Record<string, unknown>;
  limits: { uploadBytes: number; jsonBytes: number };
  token?: string;
  corsOrigin?: string;
  debug: boolean;
  logger: Logger;
  startedAt: number;
}
