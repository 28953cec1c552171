/**
 * Node expansion: a node's `run` may return a sub-graph that runs in its place
 * (a sampler becomes one node per step). Sub-graph nodes get ids `<parent>.<n>`,
 * numbered in the order they were added, so events and cache keys are stable.
 *
 *   const g = ctx.subgraph();
 *   let x = g.input('latent');
 *   for (let i = 0; i < steps; i++) x = g.add('Step', { latent: x, index: i }, { progress: true }).out(0);
 *   return g.result([x]);
 */

/** A reference to an output: of a node outside the sub-graph (`external`) or a sibling in it. */
export class OutputRef {
  constructor(readonly node: string, readonly output: number, readonly external: boolean) {}
}

export interface SubgraphNode {
  readonly type: string;
  readonly inputs: Readonly<Record<string, unknown>>;
}

export interface Expansion {
  readonly kind: 'expansion';
  /** Local id ("1", "2", ...) → node; inputs hold literals or OutputRefs. */
  readonly nodes: ReadonlyMap<string, SubgraphNode>;
  /** One per output of the expanding node: an OutputRef or a literal value. */
  readonly outputs: readonly unknown[];
  /** Local ids whose completion counts as one step of the parent's progress. */
  readonly progress: readonly string[];
  /** See SubgraphOptions.transient. */
  readonly transient: boolean;
}

export interface SubgraphOptions {
  /**
   * The sub-graph's own results matter only until the expanding node's result exists (a
   * sampler's steps: a rerun reuses the sampler's result, and a changed input changes every
   * step). Once that result is stored, results computed into arrays from `newArray` leave the
   * cache and those arrays are reused, so the next run's steps need no fresh memory. An
   * interrupted or failed run keeps them cached, so the same run queued again resumes.
   * The engine finds arrays inside arrays and plain objects (tensors, conditionings), not inside
   * class instances: a transient sub-graph's values must not hide `newArray` arrays in those.
   * A value nested deeper than 12 levels (or in a cycle) keeps the steps cached and their arrays
   * out of the pool. Values never change once a node has returned them (the engine remembers
   * which arrays a value holds).
   */
  transient?: boolean;
}

export function isExpansion(value: unknown): value is Expansion {
  return typeof value === 'object' && value !== null && (value as Expansion).kind === 'expansion'
    && (value as Expansion).nodes instanceof Map;
}

export class SubgraphBuilder {
  private readonly nodes = new Map<string, SubgraphNode>();
  private readonly progress: string[] = [];

  /** @param sources the expanding node's inputs: an OutputRef where linked, else the literal. */
  constructor(private readonly sources: Readonly<Record<string, unknown>>, private readonly options: SubgraphOptions = {}) {}

  /** What fed the expanding node's input `name`: pass it on to sub-graph nodes. */
  input(name: string): unknown {
    if (!(name in this.sources)) throw new Error(`subgraph.input: the expanding node has no input "${name}"`);
    return this.sources[name];
  }

  add(type: string, inputs: Record<string, unknown>, opts: { progress?: boolean } = {}) {
    const id = String(this.nodes.size + 1);
    this.nodes.set(id, { type, inputs });
    if (opts.progress) this.progress.push(id);
    return { id, out: (output = 0) => new OutputRef(id, output, false) };
  }

  result(outputs: unknown[]): Expansion {
    return { kind: 'expansion', nodes: this.nodes, outputs, progress: this.progress, transient: this.options.transient ?? false };
  }
}
