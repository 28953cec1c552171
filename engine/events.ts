import type { UiOutput } from './node.ts';

/**
 * Execution events. Names and fields match ComfyUI's WebSocket messages, so the server
 * forwards them unchanged: `{ type, data }` with `data.prompt_id` on every one.
 * `display_node` is the top-level workflow node an expanded node stands for.
 */
export type EngineEvent =
  | { type: 'execution_start'; data: { prompt_id: string; timestamp: number } }
  /** Planned nodes that will not run because a cached result covers them. */
  | { type: 'execution_cached'; data: { prompt_id: string; nodes: string[]; timestamp: number } }
  | { type: 'executing'; data: { prompt_id: string; node: string; display_node: string } }
  | { type: 'progress'; data: { prompt_id: string; node: string; display_node: string; value: number; max: number } }
  | { type: 'executed'; data: { prompt_id: string; node: string; display_node: string; output: UiOutput } }
  | { type: 'execution_success'; data: { prompt_id: string; timestamp: number } }
  | { type: 'execution_error'; data: ExecutionErrorData }
  | { type: 'execution_interrupted'; data: { prompt_id: string; node_id: string | null; node_type: string | null; executed: string[]; timestamp: number } };

export interface ExecutionErrorData {
  prompt_id: string;
  node_id: string;
  node_type: string;
  display_node: string;
  executed: string[];
  exception_message: string;
  exception_type: string;
  /** Stack lines, only when the engine runs with `debug`. */
  traceback: string[];
  current_inputs: Record<string, string>;
  current_outputs: Record<string, unknown>;
  timestamp: number;
}

export type EngineEventType = EngineEvent['type'];
export type EventListener = (event: EngineEvent) => void;
