import { typesCompatible } from './data-types.ts';
import { acceptedType, type InputSpec } from './inputs.ts';
import { editDistance, type NodeRegistry, type RegisteredNode } from './registry.ts';
import { isLink, type Workflow } from './workflow.ts';

export type ProblemCode =
  | 'unknown_node_type' | 'unknown_input' | 'missing_input' | 'invalid_value'
  | 'missing_link_node' | 'bad_output_index' | 'type_mismatch' | 'cycle'
  | 'no_output' | 'unknown_target';

/** One thing wrong with a workflow; validation returns all of them at once. */
export interface Problem {
  nodeId: string | null;
  nodeType?: string;
  input?: string;
  code: ProblemCode;
  message: string;
}

export interface GraphLink { input: string; from: string; output: number }

/** A validated node, ready to execute. */
export interface GraphNode {
  readonly id: string;
  readonly registered: RegisteredNode;
  /** Literal inputs after their schemas parsed them, defaults filled in. */
  readonly literals: Record<string, unknown>;
  readonly links: GraphLink[];
  /** The top-level workflow node this one stands for (itself, or the node that expanded into it). */
  readonly displayNode: string;
}

export class WorkflowValidationError extends Error {
  constructor(readonly problems: Problem[]) {
    super(`the workflow is invalid:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`);
    this.name = 'WorkflowValidationError';
  }
}

export function formatProblem(p: Problem): string {
  const where = p.nodeId === null ? 'workflow' : `node ${p.nodeId}${p.nodeType ? ` (${p.nodeType})` : ''}`;
  return `${where}${p.input ? `, input "${p.input}"` : ''}: ${p.message}`;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Looks up the node behind a link's source id (a workflow node, or an already running one). */
export type SourceLookup = (id: string) => { registered: RegisteredNode | undefined } | undefined;

/**
 * Checks one node's inputs against its definition and resolves them into literals and links.
 * Pushes every problem found; returns the node even when it has problems.
 */
export function resolveNode(
  id: string, registered: RegisteredNode, rawInputs: Record<string, unknown>,
  sourceOf: SourceLookup, registry: NodeRegistry, problems: Problem[], displayNode = id,
): GraphNode {
  const { def } = registered;
  const nodeType = def.type;
  const literals: Record<string, unknown> = {};
  const links: GraphLink[] = [];
  const problem = (input: string, code: ProblemCode, message: string) =>
    problems.push({ nodeId: id, nodeType, input, code, message });

  for (const name in rawInputs) {
    if (Object.hasOwn(def.inputs, name)) continue;
    const close = Object.keys(def.inputs).filter((k) => editDistance(k, name) <= Math.floor(Math.max(k.length, name.length) / 3));
    problem(name, 'unknown_input', `${nodeType} has no input "${name}"`
      + (close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(' or ')}?)` : '')
      + `; its inputs are ${Object.keys(def.inputs).join(', ') || '(none)'}`);
  }

  for (const name in def.inputs) {
    const spec: InputSpec = def.inputs[name];
    const raw = rawInputs[name];
    if (isLink(raw)) {
      const [from, output] = raw;
      const source = sourceOf(from);
      if (!source) { problem(name, 'missing_link_node', `linked to node "${from}", which does not exist`); continue; }
      const src = source.registered;
      if (src) {
        const outputs = src.outputTypes;
        if (output >= outputs.length) {
          problem(name, 'bad_output_index', `linked to output ${output} of node ${from} (${src.def.type}), which has `
            + `${outputs.length} output${outputs.length === 1 ? '' : 's'}${outputs.length ? ` (0..${outputs.length - 1})` : ''}`);
          continue;
        }
        const expected = acceptedType(spec);
        if (!typesCompatible(outputs[output], expected)) {
          problem(name, 'type_mismatch', `expects ${expected} but is linked to output ${output} `
            + `("${src.def.outputs[output].name}") of node ${from} (${src.def.type}), which is ${outputs[output]}`);
          continue;
        }
      }
      links.push({ input: name, from, output });
    } else if (raw === undefined) {
      if (spec.kind === 'widget' && spec.default !== undefined) literals[name] = spec.default;
      else if (!spec.optional) {
        problem(name, 'missing_input', spec.kind === 'socket'
          ? `required input "${name}" is not connected: link a ${spec.type} output to it`
          : `required input "${name}" is missing: expected ${spec.expected}`);
      }
    } else if (spec.kind === 'widget') {
      const parsed = spec.schema.safeParse(raw);
      if (parsed.success) literals[name] = parsed.data;
      else problem(name, 'invalid_value', `${name} must be ${spec.expected}, got ${show(raw)}`);
    } else {
      // A literal on a socket is fine when the data type can check it (e.g. a STRING socket).
      const parsed = registry.dataType(spec.type)?.validate?.safeParse(raw);
      if (parsed?.success) literals[name] = parsed.data;
      else problem(name, 'invalid_value', `${name} takes a link from a ${spec.type} output, got the literal ${show(raw)}`);
    }
  }
  return { id, registered, literals, links, displayNode };
}

export interface ValidatedWorkflow {
  problems: Problem[];
  graph: Map<string, GraphNode>;
  /** The nodes that will run (targets and their ancestors), in a topological order. */
  order: string[];
  targets: string[];
}

/**
 * Validates what a run would execute: the targets (by default every output node) and their
 * ancestors. Nodes outside that set are not checked, except that every node type must exist.
 */
export function validateWorkflow(workflow: Workflow, registry: NodeRegistry, requested?: string[]): ValidatedWorkflow {
  const problems: Problem[] = [];
  const nodes = workflow.nodes;
  const graph = new Map<string, GraphNode>();

  for (const id in nodes) {
    const type = nodes[id].type;
    if (registry.get(type)) continue;
    const close = registry.suggest(type);
    problems.push({ nodeId: id, nodeType: type, code: 'unknown_node_type',
      message: `unknown node type "${type}"${close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(', ')}?)` : ''}` });
  }

  let targets: string[];
  if (requested) {
    targets = requested.filter((id) => {
      if (Object.hasOwn(nodes, id)) return true;
      problems.push({ nodeId: id, code: 'unknown_target', message: `node "${id}" was asked to run but is not in the workflow` });
      return false;
    });
  } else {
    targets = Object.keys(nodes).filter((id) => registry.get(nodes[id].type)?.def.output === true);
    if (targets.length === 0) {
      problems.push({ nodeId: null, code: 'no_output',
        message: 'the workflow has no output node, so nothing would run: add one (e.g. SaveImage)' });
    }
  }

  const planned = ancestors(workflow, targets);
  const sourceOf: SourceLookup = (id) => Object.hasOwn(nodes, id) ? { registered: registry.get(nodes[id].type) } : undefined;
  for (const id in nodes) {
    const registered = planned.has(id) ? registry.get(nodes[id].type) : undefined;
    if (!registered) continue;
    graph.set(id, resolveNode(id, registered, nodes[id].inputs, sourceOf, registry, problems));
  }

  const order = topologicalOrder(planned, (id) => linkSources(nodes[id].inputs).filter((s) => planned.has(s)));
  if (order.length < planned.size) problems.push(cycleProblem(planned, order, workflow));
  return { problems, graph, order, targets };
}

/** Ids that a node's raw inputs link to. */
function linkSources(inputs: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k in inputs) {
    const v = inputs[k];
    if (isLink(v)) out.push(v[0]);
  }
  return out;
}

/** The targets and everything they depend on (existing nodes only), found iteratively. */
function ancestors(workflow: Workflow, targets: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...targets];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || !Object.hasOwn(workflow.nodes, id)) continue;
    seen.add(id);
    for (const s of linkSources(workflow.nodes[id].inputs)) if (!seen.has(s)) stack.push(s);
  }
  return seen;
}

/** Kahn's algorithm; nodes on a cycle are left out of the result. */
export function topologicalOrder(ids: Iterable<string>, depsOf: (id: string) => string[]): string[] {
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const id of ids) {
    const deps = depsOf(id);
    pending.set(id, deps.length);
    for (const d of deps) {
      const list = dependents.get(d);
      if (list) list.push(id); else dependents.set(d, [id]);
    }
  }
  const order: string[] = [];
  for (const [id, n] of pending) if (n === 0) order.push(id);
  for (let head = 0; head < order.length; head++) {
    for (const next of dependents.get(order[head]) ?? []) {
      const left = pending.get(next)! - 1;
      pending.set(next, left);
      if (left === 0) order.push(next);
    }
  }
  return order;
}

/** Finds one concrete cycle among the nodes Kahn's algorithm could not order. */
function cycleProblem(planned: Set<string>, order: string[], workflow: Workflow): Problem {
  const ordered = new Set(order);
  const stuck = [...planned].filter((id) => !ordered.has(id));
  // Every stuck node has a stuck dependency, so walking dependencies must revisit a node.
  const position = new Map<string, number>();
  const path: string[] = [];
  let id = stuck[0];
  while (!position.has(id)) {
    position.set(id, path.length);
    path.push(id);
    id = linkSources(workflow.nodes[id].inputs).find((s) => planned.has(s) && !ordered.has(s))!;
  }
  const cycle = path.slice(position.get(id)!).reverse();
  cycle.push(cycle[0]);
  return { nodeId: cycle[0], nodeType: workflow.nodes[cycle[0]].type, code: 'cycle',
    message: `the links form a cycle: ${cycle.join(' → ')}` };
}
