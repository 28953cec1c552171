import * as Y from 'yjs';
import { isLink, WORKFLOW_FORMAT } from '../../engine/workflow-formats.ts';
import { inputType, type NodeSpec } from './catalog.ts';
import {
  linkKey, liveLinks, loadWorkflow, nodeInputs, nodeMap, toWorkflow, writeNode,
  type NativeWorkflow, type Position, type WorkflowDoc,
} from './workflow-doc.ts';

/** The origin of every change this editor makes: undo tracks only these. */
export const LOCAL = Symbol('local-edit');

export class GraphError extends Error {
  constructor(message: string) { super(message); this.name = 'GraphError'; }
}

/** Changes this close together merge into one undo step (typing into a field). */
const CAPTURE_MS = 400;

/** Socket types connect when equal, or when either is `*` (ANY). */
export const typesCompatible = (from: string, to: string): boolean => from === to || from === '*' || to === '*';

/**
 * Editing operations on the shared document: the one way the editor (and `window.app.graph`)
 * changes a workflow. Each is one transaction with the LOCAL origin, so it is one undo step of
 * this person's only; the view renders whatever the document holds.
 */
export class Graph {
  readonly undoManager: Y.UndoManager;

  constructor(readonly wd: WorkflowDoc, private readonly catalog: Map<string, NodeSpec>) {
    this.undoManager = new Y.UndoManager([wd.nodes, wd.positions, wd.links], { trackedOrigins: new Set([LOCAL]), captureTimeout: CAPTURE_MS });
  }

  private inGesture = false;

  /** One undo step, or part of the gesture in progress. */
  private transact(fn: () => void): void {
    if (!this.inGesture) this.undoManager.stopCapturing();
    this.wd.doc.transact(fn, LOCAL);
  }

  /**
   * Starts a gesture (a node or number drag): every change until the returned function is called
   * is one undo step, however long the pointer rests on the way. A new gesture ends an open one.
   */
  gesture(): () => void {
    this.endGesture?.();
    this.undoManager.stopCapturing();
    this.inGesture = true;
    this.undoManager.captureTimeout = Infinity;
    const end = () => {
      if (this.endGesture !== end) return;
      this.endGesture = undefined;
      this.inGesture = false;
      this.undoManager.captureTimeout = CAPTURE_MS;
      this.undoManager.stopCapturing();
    };
    this.endGesture = end;
    return end;
  }

  private endGesture?: () => void;

  spec(type: string): NodeSpec {
    const spec = this.catalog.get(type);
    if (!spec) throw new GraphError(`unknown node type "${type}"`);
    return spec;
  }

  /** A fresh node id: random, so two people adding nodes at once never collide. */
  private newId(): string {
    let id: string;
    do id = Math.random().toString(36).slice(2, 8); while (this.wd.nodes.has(id));
    return id;
  }

  addNode(type: string, pos: Position = { x: 0, y: 0 }): string {
    const spec = this.spec(type);
    const defaults: Record<string, unknown> = {};
    for (const input of spec.inputs) if (input.kind === 'widget' && input.options.default !== undefined) defaults[input.name] = input.options.default;
    if (spec.inputs.some((i) => i.kind === 'widget' && i.widget === 'seed')) defaults.seed = Math.floor(Math.random() * 2 ** 32);
    const id = this.newId();
    this.transact(() => {
      this.wd.nodes.set(id, nodeMap(type, defaults));
      this.wd.positions.set(id, { x: Math.round(pos.x), y: Math.round(pos.y) });
    });
    return id;
  }

  /** Why `from`'s output cannot feed `to`'s input, or undefined when it can. */
  connectionProblem(fromId: string, outputIndex: number, toId: string, inputName: string): string | undefined {
    const from = this.wd.nodes.get(fromId);
    const to = this.wd.nodes.get(toId);
    if (!from || !to) return `no node ${from ? toId : fromId}`;
    if (fromId === toId) return 'a node cannot feed itself';
    const output = this.spec(from.get('type') as string).outputs[outputIndex];
    if (!output) return `${from.get('type')} has no output ${outputIndex}`;
    const input = this.spec(to.get('type') as string).inputs.find((i) => i.name === inputName);
    if (!input) return `${to.get('type')} has no input "${inputName}"`;
    const type = inputType(input);
    if (!typesCompatible(output.type, type)) {
      return `${output.type} cannot connect to "${inputName}", which takes ${type}`;
    }
    if (this.reaches(toId, fromId)) return 'that link would make a cycle';
    return undefined;
  }

  /** Whether `target` is downstream of (or is) `start`. */
  private reaches(start: string, target: string): boolean {
    const seen = new Set<string>();
    const stack = [start];
    const links = liveLinks(this.wd).map(([, l]) => l);
    while (stack.length) {
      const id = stack.pop()!;
      if (id === target) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const l of links) if (l.from === id) stack.push(l.to);
    }
    return false;
  }

  /** Links an output to an input (replacing that input's link); throws GraphError with the reason when it can't. */
  connect(fromId: string, outputIndex: number, toId: string, inputName: string): void {
    const problem = this.connectionProblem(fromId, outputIndex, toId, inputName);
    if (problem) throw new GraphError(problem);
    this.transact(() => this.wd.links.set(linkKey(toId, inputName), { from: fromId, output: outputIndex, to: toId, input: inputName }));
  }

  disconnect(toId: string, inputName: string): void {
    if (this.wd.links.has(linkKey(toId, inputName))) this.transact(() => this.wd.links.delete(linkKey(toId, inputName)));
  }

  setWidget(id: string, input: string, value: unknown): void {
    const node = this.wd.nodes.get(id);
    if (!node) throw new GraphError(`no node ${id}`);
    if (nodeInputs(node).get(input) === value) return;
    this.transact(() => nodeInputs(node).set(input, value));
  }

  setTitle(id: string, title: string): void {
    const node = this.wd.nodes.get(id);
    if (node) this.transact(() => (title ? node.set('title', title) : node.delete('title')));
  }

  move(id: string, pos: Position): void {
    const old = this.wd.positions.get(id);
    if (!this.wd.nodes.has(id) || (old && old.x === pos.x && old.y === pos.y)) return;
    this.transact(() => this.wd.positions.set(id, pos)); // a drag is one gesture: see GraphView
  }

  /** Removes nodes with their links. */
  remove(ids: string[]): void {
    const gone = new Set(ids);
    this.transact(() => {
      for (const [key, l] of this.wd.links.entries()) if (gone.has(l.from) || gone.has(l.to)) this.wd.links.delete(key);
      for (const id of ids) {
        this.wd.nodes.delete(id);
        this.wd.positions.delete(id);
      }
    });
  }

  /** A fragment of the graph (nodes and the links among them), for copy/paste. */
  fragment(ids: string[]): NativeWorkflow {
    const all = toWorkflow(this.wd);
    const keep = new Set(ids);
    const nodes: NativeWorkflow['nodes'] = {};
    const uiNodes: Record<string, unknown> = {};
    const ui = all.ui as { nodes: Record<string, unknown> };
    for (const id of ids) {
      if (!all.nodes[id]) continue;
      const inputs = Object.fromEntries(Object.entries(all.nodes[id].inputs).filter(([, v]) => !isLink(v) || keep.has(v[0])));
      nodes[id] = { type: all.nodes[id].type, inputs };
      uiNodes[id] = ui.nodes[id];
    }
    return { format: WORKFLOW_FORMAT, nodes, ui: { nodes: uiNodes } };
  }

  /** Adds a fragment with new ids, its top-left corner at `at`; returns the new ids. */
  paste(fragment: NativeWorkflow, at: Position): string[] {
    const ui = (fragment.ui?.nodes ?? {}) as Record<string, { title?: string; pos?: [number, number] }>;
    const ids = Object.keys(fragment.nodes);
    const minX = Math.min(...ids.map((id) => ui[id]?.pos?.[0] ?? 0));
    const minY = Math.min(...ids.map((id) => ui[id]?.pos?.[1] ?? 0));
    const renamed = new Map(ids.map((id) => [id, this.newId()]));
    this.transact(() => {
      for (const id of ids) {
        const nid = renamed.get(id)!;
        writeNode(this.wd, nid, fragment.nodes[id], ui[id]?.title, (source) => renamed.get(source));
        const p = ui[id]?.pos ?? [0, 0];
        this.wd.positions.set(nid, { x: Math.round(at.x + p[0] - minX), y: Math.round(at.y + p[1] - minY) });
      }
    });
    return [...renamed.values()];
  }

  /** Replaces the whole graph (import, PNG drop); one undoable step. */
  replace(workflow: NativeWorkflow): void {
    this.undoManager.stopCapturing();
    loadWorkflow(this.wd, workflow, LOCAL);
  }

  toWorkflow(): NativeWorkflow {
    return toWorkflow(this.wd);
  }
}
