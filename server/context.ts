import type { Logger } from '../engine/node.ts';
import type { CollabHub } from './collab.ts';
import type { Cluster } from './distributed/cluster.ts';
import type { EngineHost } from './engine-host.ts';
import type { HistoryStore, QueueFront } from './queue.ts';
import type { PromptRunner } from './runner.ts';
import type { WorkflowStore } from './workflow-store.ts';
import type { ClientHub } from './ws.ts';

/** Who runs the prompts: the local runner, or (with `--queue redis://...`) the workers, through the Cluster. */
export type Executor = Pick<PromptRunner, 'interrupt' | 'free' | 'runningPrompt'>;

/** What the routes work with: one of each per server. */
export interface ServerContext {
  engine: EngineHost;
  queue: QueueFront;
  history: HistoryStore;
  runner: Executor;
  hub: ClientHub;
  workflows: WorkflowStore;
  /** The shipped workflows (workflows/), offered as templates. */
  templates: WorkflowStore;
  /** With a distributed queue (docs/scaling.md): its workers, for `/queue` and `/system_stats`. */
  cluster?: Cluster;
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
