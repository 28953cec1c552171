import path from 'node:path';
import type { Workflow } from '../../engine/workflow.ts';
import type { WorkerInfo } from './protocol.ts';

/**
 * Model affinity. BullMQ hands a prompt to whichever worker asks first; loading a model costs
 * far more than a queue round trip, so a worker that takes a prompt whose pipelines it does not
 * hold passes it back (to the front of the queue) when another live worker holds them all and is
 * idle, and pauses briefly so that worker takes it. A prompt is passed at most once, so nothing
 * waits on a worker that never comes; with no such idle worker, whoever took it runs it.
 */
export const PASS_PAUSE_MS = 300;

/** The pipeline folders a workflow loads (LoadPipeline `path` inputs given as text). */
export function pipelinesOf(workflow: Workflow): string[] {
  const paths = new Set<string>();
  for (const node of Object.values(workflow.nodes)) {
    const p = node.inputs.path;
    if (node.type === 'LoadPipeline' && typeof p === 'string') paths.add(p);
  }
  return [...paths];
}

/** The pipelines (as workflows name them) whose models are loaded, given the folders they resolve to. */
export function loadedPipelines(known: Map<string, string>, loadedModelPaths: string[]): string[] {
  return [...known].filter(([, folder]) => loadedModelPaths.some((p) => p.startsWith(folder + path.sep))).map(([name]) => name);
}

/** Another idle worker that holds every pipeline the prompt needs, if `me` does not. */
export function betterWorker(me: WorkerInfo, workers: WorkerInfo[], needed: string[]): WorkerInfo | undefined {
  if (!couldDoBetter(me, needed)) return undefined;
  return workers.find((w) => w.id !== me.id && w.current_prompt === null && holdsAll(w, needed));
}

const holdsAll = (w: WorkerInfo, needed: string[]) => needed.every((p) => w.pipelines.includes(p));

/** Whether another worker could suit the prompt better: it needs models and `me` lacks some. */
export function couldDoBetter(me: WorkerInfo, needed: string[]): boolean {
  return needed.length > 0 && !holdsAll(me, needed);
}
