import { OutputRef, type Expansion } from './expansion.ts';
import type { NodeRegistry } from './registry.ts';
import { rememberLiteralsJson } from './signature.ts';
import type { GraphNode } from './validate.ts';

/**
 * Resolved sub-graphs, by structure. A sampler returns the same sub-graph run after run (only
 * what flows through its links changes), and resolving it again (every literal through its
 * schema, every link's type) cost ~250 µs of a tiny model's ~4 ms outside ONNX Runtime. A
 * resolved sub-graph depends only on what the key holds: the parent's id and display node, each
 * node's type and inputs (literals as JSON, links by id and output, and for links out of the
 * sub-graph the type of the node they come from), and the registry, which never replaces a
 * registered type. GraphNodes are never modified after resolution, so runs can share them. (A
 * plan hit does not run widget schemas again: they must be pure checks of the value.)
 * Only sub-graphs without problems are kept: a faulty one is resolved (and reported) every time.
 */
const MAX_PLANS = 64;
const plans = new WeakMap<NodeRegistry, Map<string, GraphNode[]>>();

/**
 * The key of an expansion, or undefined when a literal is not a primitive (an object's JSON may
 * not tell two values apart: a Map is "{}"), which is then resolved every time. `sourceType`
 * gives the type of an outside node a link comes from ("" when there is none: a problem).
 */
export function expansionKey(prefix: string, displayNode: string, expansion: Expansion, sourceType: (id: string) => string): string | undefined {
  let key = `${str(prefix)}${str(displayNode)}`;
  for (const [localId, sub] of expansion.nodes) {
    key += `\u0001${str(localId)}${str(sub.type)}`;
    for (const name in sub.inputs) {
      const v = sub.inputs[name];
      let text: string;
      if (v instanceof OutputRef) text = v.external ? `@${str(v.node)}${v.output}:${str(sourceType(v.node))}` : `#${str(v.node)}${v.output}:`;
      else if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) text = `${String(v)}:`;
      else if (typeof v === 'string') text = `'${str(v)}`;
      else return undefined;
      key += `${str(name)}${text}`;
    }
  }
  return key;
}

/** A string in a key, length first: ids and names may hold any character, so no separator is safe. */
const str = (s: string): string => `${s.length}:${s}`;

export function findPlan(registry: NodeRegistry, key: string): GraphNode[] | undefined {
  const byKey = plans.get(registry);
  const nodes = byKey?.get(key);
  if (nodes) { byKey!.delete(key); byKey!.set(key, nodes); } // most recently used last
  return nodes;
}

export function keepPlan(registry: NodeRegistry, key: string, nodes: GraphNode[]): void {
  for (const node of nodes) rememberLiteralsJson(node.literals);
  let byKey = plans.get(registry);
  if (!byKey) plans.set(registry, (byKey = new Map()));
  if (byKey.size >= MAX_PLANS) byKey.delete(byKey.keys().next().value!);
  byKey.set(key, nodes);
}
