import type { EngineEvent } from '../engine/events.ts';
import type { ExecutionResult } from '../engine/executor.ts';
import type { UiOutput } from '../engine/node.ts';
import { toTuple, type QueuedPrompt, type QueueTuple } from './queue.ts';

/**
 * A history entry in ComfyUI's shape:
 * `{prompt: [number, id, prompt, extra_data, outputs], outputs: {<node>: ui}, status, meta}`.
 */
export interface HistoryStatus {
  status_str: 'success' | 'error';
  completed: boolean;
  /** The run's lifecycle events as `[type, data]`: start, cached, then success/error/interrupted. */
  messages: [string, Record<string, unknown>][];
}

export interface NodeMeta { node_id: string; display_node: string; parent_node: string | null; real_node_id: string }

export interface HistoryEntry {
  prompt: QueueTuple;
  outputs: Record<string, UiOutput>;
  status: HistoryStatus;
  meta: Record<string, NodeMeta>;
  /** With a distributed queue: the worker that ran the prompt (ours; ComfyUI clients ignore it). */
  worker?: string;
}

/** The events ComfyUI keeps in `status.messages` (per-node events are not kept). */
const STATUS_EVENTS = new Set(['execution_start', 'execution_cached', 'execution_success', 'execution_error', 'execution_interrupted']);

/** Keys ComfyUI strips from `extra_data` before it goes into the history (credentials for its API nodes). */
const SENSITIVE_EXTRA_DATA = ['auth_token_comfy_org', 'api_key_comfy_org'];

/** Collects what the history needs from one run's events. */
export class RunRecord {
  readonly messages: [string, Record<string, unknown>][] = [];
  readonly meta: Record<string, NodeMeta> = {};

  observe(event: EngineEvent): void {
    if (STATUS_EVENTS.has(event.type)) this.messages.push([event.type, event.data as unknown as Record<string, unknown>]);
    if (event.type === 'executed') {
      const { node, display_node } = event.data;
      this.meta[node] = { node_id: node, display_node, parent_node: node === display_node ? null : display_node, real_node_id: display_node };
    }
  }

  /** A failure outside the engine's own reporting (the engine thread died, say), as an error message; returns it (for the client). */
  failed(promptId: string, error: Error): Record<string, unknown> {
    const data = {
      prompt_id: promptId, node_id: null, node_type: null, executed: [],
      exception_message: error.message, exception_type: error.name, traceback: [], current_inputs: {}, current_outputs: {},
      timestamp: Date.now(),
    };
    this.messages.push(['execution_error', data]);
    return data;
  }

  entry(item: QueuedPrompt, result: Pick<ExecutionResult, 'status' | 'outputs'> | undefined): HistoryEntry {
    const extraData = { ...item.extraData };
    for (const key of SENSITIVE_EXTRA_DATA) delete extraData[key];
    const success = result?.status === 'success';
    return {
      prompt: toTuple({ ...item, extraData }),
      outputs: result?.outputs ?? {},
      status: { status_str: success ? 'success' : 'error', completed: success, messages: this.messages },
      meta: this.meta,
    };
  }
}
