import * as Y from 'yjs';
import { fromComfyApi, isLink, isRecord, nodeProblem, readableFormat, WORKFLOW_FORMAT } from '../../engine/workflow-formats.ts';
import type { ComfyApiWorkflow, Workflow } from '../../engine/workflow.ts';

/**
 * The shared document of one workflow, as the editor and the server both read it.
 *
 *   nodes      Y.Map  id → Y.Map { type: string, title?: string, inputs: Y.Map<name, literal> }
 *   positions  Y.Map  id → { x, y }          (its own map: a move never rewrites a node)
 *   links      Y.Map  "<to>:<input>" → { from, output, to, input }
 *
 * Links are keyed by their target input, so an input holds at most one link even when two people
 * connect it at the same moment (Y.Map keeps one value per key). A link whose node was deleted
 * concurrently stays in the map but is ignored (it comes back if the node is restored by undo).
 * Only plain JSON values go in: the workflow file format round-trips through it losslessly
 * (unknown `ui` fields are kept under `extraUi`).
 */

export interface Position { x: number; y: number }
export interface LinkValue { from: string; output: number; to: string; input: string }

/** The native workflow format (the engine's type; only the type is imported, not its zod schema). */
export type NativeWorkflow = Workflow;

export interface WorkflowDoc {
  doc: Y.Doc;
  nodes: Y.Map<Y.Map<unknown>>;
  positions: Y.Map<Position>;
  links: Y.Map<LinkValue>;
  meta: Y.Map<unknown>;
}

export function workflowDoc(doc: Y.Doc): WorkflowDoc {
  return {
    doc,
    nodes: doc.getMap('nodes'),
    positions: doc.getMap('positions'),
    links: doc.getMap('links'),
    meta: doc.getMap('meta'),
  };
}

export const linkKey = (to: string, input: string): string => `${to}:${input}`;
/** The node a link key's input belongs to (input names hold no ":"). */
export const linkTarget = (key: string): string => key.slice(0, key.lastIndexOf(':'));


/** A new node's Y.Map (not yet in the document). */
export function nodeMap(type: string, inputs: Record<string, unknown>, title?: string): Y.Map<unknown> {
  const node = new Y.Map<unknown>();
  node.set('type', type);
  if (title) node.set('title', title);
  const values = new Y.Map<unknown>();
  for (const [name, value] of Object.entries(inputs)) values.set(name, value);
  node.set('inputs', values);
  return node;
}

export function nodeInputs(node: Y.Map<unknown>): Y.Map<unknown> {
  return node.get('inputs') as Y.Map<unknown>;
}

/**
 * Writes a workflow node into the document under `id`: literal inputs into its map, links into
 * `links` with their source id mapped by `sourceOf` (a link whose source maps to undefined is dropped).
 */
export function writeNode(wd: WorkflowDoc, id: string, node: NativeWorkflow['nodes'][string], title?: string,
  sourceOf: (id: string) => string | undefined = (source) => source): void {
  const literals: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(node.inputs ?? {})) {
    if (!isLink(value)) literals[name] = value;
    else {
      const from = sourceOf(value[0]);
      if (from !== undefined) wd.links.set(linkKey(id, name), { from, output: value[1], to: id, input: name });
    }
  }
  wd.nodes.set(id, nodeMap(node.type, literals, title));
}

/** Replaces the document's content with a workflow (in one transaction). */
export function loadWorkflow(wd: WorkflowDoc, workflow: NativeWorkflow, origin?: unknown): void {
  const ui = (workflow.ui ?? {}) as { nodes?: Record<string, { title?: string; pos?: [number, number] }> } & Record<string, unknown>;
  wd.doc.transact(() => {
    wd.nodes.clear();
    wd.positions.clear();
    wd.links.clear();
    let row = 0;
    for (const [id, node] of Object.entries(workflow.nodes)) {
      const nodeUi = ui.nodes?.[id];
      writeNode(wd, id, node, nodeUi?.title);
      const pos = nodeUi?.pos;
      wd.positions.set(id, pos ? { x: pos[0], y: pos[1] } : { x: 40 + 340 * (row % 4), y: 40 + 300 * Math.floor(row / 4) });
      row++;
    }
    const { nodes: _nodes, ...extraUi } = ui;
    wd.meta.set('extraUi', extraUi);
  }, origin);
}

/** The document as a native workflow: links whose source node is gone are left out. */
export function toWorkflow(wd: WorkflowDoc): NativeWorkflow {
  const nodes: NativeWorkflow['nodes'] = {};
  const uiNodes: Record<string, { title?: string; pos: [number, number] }> = {};
  for (const [id, node] of wd.nodes.entries()) {
    nodes[id] = { type: node.get('type') as string, inputs: nodeInputs(node).toJSON() };
    const p = wd.positions.get(id) ?? { x: 0, y: 0 };
    const title = node.get('title') as string | undefined;
    uiNodes[id] = { ...(title ? { title } : {}), pos: [Math.round(p.x), Math.round(p.y)] };
  }
  for (const link of wd.links.values()) {
    if (nodes[link.to] && nodes[link.from]) nodes[link.to].inputs[link.input] = [link.from, link.output];
  }
  const extraUi = (wd.meta.get('extraUi') ?? {}) as Record<string, unknown>;
  return { format: WORKFLOW_FORMAT, nodes, ui: { ...extraUi, nodes: uiNodes } };
}

/** Links of the document whose two ends exist. */
export function liveLinks(wd: WorkflowDoc): [string, LinkValue][] {
  return [...wd.links.entries()].filter(([, l]) => wd.nodes.has(l.from) && wd.nodes.has(l.to));
}

/** Throws the first thing wrong with a workflow's nodes (it would reach every peer and the saved file). */
function checkNodes(nodes: Record<string, unknown>, typeKey: 'type' | 'class_type'): void {
  for (const id in nodes) {
    const problem = nodeProblem(id, nodes[id], typeKey);
    if (problem) throw new Error(`malformed workflow: ${problem}`);
  }
}

/** A workflow in either format, as native; throws with what is wrong. */
export function toNative(data: unknown): NativeWorkflow {
  if (readableFormat(data) === 'comfy-api') {
    checkNodes(data as Record<string, unknown>, 'class_type');
    return fromComfyApi(data as ComfyApiWorkflow);
  }
  const { nodes } = data as { nodes: unknown };
  if (!isRecord(nodes)) throw new Error('malformed workflow: "nodes" must be an object of nodes by id');
  checkNodes(nodes, 'type');
  return data as NativeWorkflow;
}
