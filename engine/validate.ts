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

/**
 * Looks up the node behind a link's source id (a workflow node, or an already running one):
 * `undefined` when there is no such node, `null` when it exists but its type is unknown.
 */
export type SourceLookup = (id: string) => RegisteredNode | null | undefined;

function unknownInput(def: RegisteredNode['def'], name: string): string {
  const names = Object.keys(def.inputs);
  const close = names.filter((k) => editDistance(k, name) <= Math.floor(Math.max(k.length, name.length) / 3));
  return `${def.type} has no input "${name}"`
    + (close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(' or ')}?)` : '')
    + `; its inputs are ${names.join(', ') || '(none)'}`;
}

/** Why a link is not acceptable, or undefined when it is. */
function linkProblem(spec: InputSpec, src: RegisteredNode, from: string, output: number): [ProblemCode, string] | undefined {
  const outputs = src.outputTypes;
  if (output >= outputs.length) {
    return ['bad_output_index', `linked to output ${output} of node ${from} (${src.def.type}), which has `
      + `${outputs.length} output${outputs.length === 1 ? '' : 's'}${outputs.length ? ` (0..${outputs.length - 1})` : ''}`];
  }
  const expected = acceptedType(spec);
  if (typesCompatible(outputs[output], expected)) return undefined;
  return ['type_mismatch', `expects ${expected} but is linked to output ${output} `
    + `("${src.def.outputs[output].name}") of node ${from} (${src.def.type}), which is ${outputs[output]}`];
}

/** Why a literal is not acceptable ([code, message]), or its parsed value. */
function checkLiteral(name: string, spec: InputSpec, raw: unknown, registry: NodeRegistry): { value: unknown } | [ProblemCode, string] {
  if (spec.kind === 'widget') {
    const parsed = spec.schema.safeParse(raw);
    return parsed.success ? { value: parsed.data } : ['invalid_value', `${name} must be ${spec.expected}, got ${show(raw)}`];
  }
  // A literal on a socket is fine when the data type can check it (e.g. a STRING socket).
  const parsed = registry.dataType(spec.type)?.validate?.safeParse(raw);
  return parsed?.success ? { value: parsed.data } : ['invalid_value', `${name} takes a link from a ${spec.type} output, got the literal ${show(raw)}`];
}

function missingInput(name: string, spec: InputSpec): string {
  return spec.kind === 'socket'
    ? `required input "${name}" is not connected: link a ${spec.type} output to it`
    : `required input "${name}" is missing: expected ${spec.expected}`;
}

/**
 * Checks one node's inputs against its definition and resolves them into literals and links.
 * Pushes every problem found; returns the node even when it has problems.
 * (Runs for every node of every workflow: it creates no closures.)
 */
export function resolveNode(
  id: string, registered: RegisteredNode, rawInputs: Record<string, unknown>,
  sourceOf: SourceLookup, registry: NodeRegistry, problems: Problem[], displayNode = id,
): GraphNode {
  const { def } = registered;
  const nodeType = def.type;
  const literals: Record<string, unknown> = {};
  const links: GraphLink[] = [];
  for (const name in rawInputs) {
    if (!Object.hasOwn(def.inputs, name)) problems.push({ nodeId: id, nodeType, input: name, code: 'unknown_input', message: unknownInput(def, name) });
  }
  for (const name in def.inputs) {
    const spec: InputSpec = def.inputs[name];
    const raw = rawInputs[name];
    let issue: [ProblemCode, string] | undefined;
    if (isLink(raw)) {
      const src = sourceOf(raw[0]);
      if (src === undefined) issue = ['missing_link_node', `linked to node "${raw[0]}", which does not exist`];
      else if (src !== null) issue = linkProblem(spec, src, raw[0], raw[1]);
      if (!issue) links.push({ input: name, from: raw[0], output: raw[1] });
    } else if (raw === undefined) {
      if (spec.kind === 'widget' && spec.default !== undefined) literals[name] = spec.default;
      else if (!spec.optional) issue = ['missing_input', missingInput(name, spec)];
    } else {
      const checked = checkLiteral(name, spec, raw, registry);
      if (Array.isArray(checked)) issue = checked;
      else literals[name] = checked.value;
    }
    if (issue) problems.push({ nodeId: id, nodeType, input: name, code: issue[0], message: issue[1] });
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

  const targets: string[] = [];
  // Each node's definition, looked up once (null: unknown type).
  const known = new Map<string, RegisteredNode | null>();
  for (const id of Object.keys(nodes)) {
    const type = nodes[id].type;
    const registered = registry.get(type);
    known.set(id, registered ?? null);
    if (registered) {
      if (!requested && registered.def.output === true) targets.push(id);
      continue;
    }
    const close = registry.suggest(type);
    problems.push({ nodeId: id, nodeType: type, code: 'unknown_node_type',
      message: `unknown node type "${type}"${close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(', ')}?)` : ''}` });
  }
  for (const id of requested ?? []) {
    if (Object.hasOwn(nodes, id)) targets.push(id);
    else problems.push({ nodeId: id, code: 'unknown_target', message: `node "${id}" was asked to run but is not in the workflow` });
  }
  if (!requested && targets.length === 0) {
    problems.push({ nodeId: null, code: 'no_output',
      message: 'the workflow has no output node, so nothing would run: add one (e.g. SaveImage)' });
  }

  const { order, cycles } = plan(workflow, targets);
  const sourceOf: SourceLookup = (id) => known.get(id);
  for (const id of order) {
    const registered = known.get(id);
    if (registered) graph.set(id, resolveNode(id, registered, nodes[id].inputs, sourceOf, registry, problems));
  }
  for (const cycle of cycles) {
    problems.push({ nodeId: cycle[0], nodeType: nodes[cycle[0]].type, code: 'cycle',
      message: `the links form a cycle: ${cycle.join(' → ')}` });
  }
  if (problems.length > 1) sortByWorkflowOrder(problems, nodes);
  return { problems, graph, order, targets };
}

function sortByWorkflowOrder(problems: Problem[], nodes: Workflow['nodes']): void {
  const position = new Map<string | null, number>(Object.keys(nodes).map((id, i) => [id, i]));
  problems.sort((a, b) => (position.get(a.nodeId) ?? -1) - (position.get(b.nodeId) ?? -1)); // stable
}

/**
 * One iterative depth-first walk from the targets through the links (no recursion, so any
 * depth works) gives both what must run and a topological order of it: a node is emitted
 * after everything it links to. Meeting a node that is still on the current path means a
 * cycle; the path from there is reported.
 */
function plan(workflow: Workflow, targets: readonly string[]): { order: string[]; cycles: string[][] } {
  const nodes = workflow.nodes;
  const ON_PATH = 1;
  const DONE = 2;
  const state = new Map<string, number>();
  const order: string[] = [];
  const cycles: string[][] = [];
  const path: string[] = [];
  // Entries: a node id to visit, or (after its dependencies) `null` followed by the id to emit.
  const stack: (string | null)[] = [];
  for (let t = targets.length - 1; t >= 0; t--) stack.push(targets[t]);
  while (stack.length) {
    const id = stack.pop();
    if (id === null) {
      const done = path.pop()!;
      state.set(done, DONE);
      order.push(done);
      continue;
    }
    const seen = state.get(id!);
    if (seen === DONE) continue;
    if (seen === ON_PATH) {
      cycles.push([...path.slice(path.lastIndexOf(id!)), id!]);
      continue;
    }
    state.set(id!, ON_PATH);
    path.push(id!);
    stack.push(null);
    // Push sources in reverse so they are visited in input order.
    const inputs = nodes[id!].inputs;
    const sources: string[] = [];
    for (const k in inputs) {
      const v = inputs[k];
      if (isLink(v) && Object.hasOwn(nodes, v[0]) && state.get(v[0]) !== DONE) sources.push(v[0]);
    }
    for (let i = sources.length - 1; i >= 0; i--) stack.push(sources[i]);
  }
  return { order, cycles };
}
