import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { estimateBytes } from './data-types.ts';
import type { EngineEvent, ExecutionErrorData } from './events.ts';
import { RunContext, type ContextHost } from './context.ts';
import { isExpansion, OutputRef, type Expansion } from './expansion.ts';
import { expansionKey, findPlan, keepPlan } from './expansion-plans.ts';
import type { ResultCache } from './cache.ts';
import type { Logger, UiOutput } from './node.ts';
import type { NodeRegistry } from './registry.ts';
import { isPooled, recycle } from './scratch.ts';
import { nodeSignature, stableJson } from './signature.ts';
import { formatProblem, resolveNode, type GraphNode, type Problem, type ValidatedWorkflow } from './validate.ts';

export interface ExecutionSettings {
  registry: NodeRegistry;
  cache: ResultCache;
  outputDir: string;
  tempRoot: string;
  /** How many async nodes may run at once (sync nodes always run one after another). */
  concurrency: number;
  logger: Logger;
  debug: boolean;
}

export interface ExecutionResult {
  promptId: string;
  status: 'success' | 'error' | 'interrupted';
  /** UI outputs (e.g. saved images) of the nodes that produced any, cached ones included. */
  outputs: Record<string, UiOutput>;
  /** Nodes that ran, in completion order (expanded nodes included). */
  executed: string[];
  /** Planned nodes that did not run because cached results covered them. */
  cached: string[];
  error?: ExecutionErrorData;
}

/** An error whose message already says everything; its stack adds nothing. */
class NodeError extends Error {
  constructor(message: string) { super(message); this.name = 'NodeError'; }
}

const YIELD_EVERY_MS = 15;

/**
 * One run of a validated workflow. Iterative throughout (no recursion over the graph),
 * so chains of any depth work. Sync nodes run back to back; async ones overlap up to
 * `concurrency`. Every node result is cached as soon as it exists, so an interrupted or
 * failed run leaves valid partial results behind.
 */
export class Execution implements ContextHost {
  /** Every node of the run: the validated graph (owned by this run), plus expanded nodes. */
  private readonly nodes: Map<string, GraphNode>;
  private readonly values = new Map<string, readonly unknown[]>();
  private readonly signatures = new Map<string, string>();
  /** Nodes whose results must not be stored: `cache: false` and everything downstream of one. */
  private readonly volatile = new Set<string>();
  private readonly pending = new Map<string, number>();
  private readonly dependents = new Map<string, string[]>();
  private readonly expansions = new Map<string, Expansion>();
  private readonly progressOf = new Map<string, { parent: string; counter: { done: number; total: number } }>();
  private readonly ready: string[] = [];
  private readyHead = 0;
  private inFlight = 0;
  private wake?: () => void;
  private readonly abort = new AbortController();
  private failure?: { node: GraphNode; error: unknown; inputs?: Record<string, unknown> };
  private current: GraphNode | undefined;
  private readonly result: ExecutionResult;
  private readonly nonce = `${Date.now()}-${Math.random()}`;
  /** UI outputs of cached nodes, shown once `execution_cached` has gone out. */
  private readonly cachedUi: [GraphNode, UiOutput][] = [];
  private tempDir?: string;

  constructor(
    private readonly settings: ExecutionSettings,
    private readonly validated: ValidatedWorkflow,
    readonly workflow: unknown,
    readonly promptId: string,
    private readonly emit: (event: EngineEvent) => void,
    /** The caller's signal: its abort is an interrupt (our own `abort` also stops on failure). */
    private readonly external: AbortSignal | undefined,
  ) {
    this.result = { promptId, status: 'success', outputs: {}, executed: [], cached: [] };
    this.nodes = validated.graph;
    if (external) {
      if (external.aborted) this.abort.abort(external.reason);
      else external.addEventListener('abort', () => this.abort.abort(external.reason), { once: true });
    }
  }

  async run(): Promise<ExecutionResult> {
    this.emit({ type: 'execution_start', data: { prompt_id: this.promptId, timestamp: Date.now() } });
    try {
      const { order, targets } = this.validated;
      const changed = await this.askIsChanged(order);
      for (const id of order) this.sign(this.nodes.get(id)!, changed.get(id));
      const toRun = this.reuseCached(targets);
      this.result.cached = order.filter((id) => !toRun.has(id));
      this.emit({ type: 'execution_cached', data: { prompt_id: this.promptId, nodes: this.result.cached, timestamp: Date.now() } });
      this.showCachedUi();
      this.schedule(order.filter((id) => toRun.has(id)), toRun);
      await this.loop();
    } catch (error) {
      // Only engine bugs get here; node errors are caught where the node runs.
      this.failure ??= { node: this.current ?? [...this.nodes.values()][0], error };
    }
    return this.finish();
  }

  // ---- planning -------------------------------------------------------------------------

  private async askIsChanged(ids: Iterable<string>): Promise<Map<string, string>> {
    const answers = new Map<string, string>();
    const asks: Promise<void>[] = [];
    for (const id of ids) {
      const node = this.nodes.get(id)!;
      const isChanged = node.registered.def.isChanged;
      if (!isChanged) continue;
      asks.push(Promise.resolve().then(() => isChanged.call(node.registered.def, node.literals))
        .then((v) => { answers.set(id, stableJson(v)); }));
    }
    await Promise.all(asks);
    return answers;
  }

  private sign(node: GraphNode, changed?: string): void {
    const uncached = node.registered.def.cache === false;
    this.signatures.set(node.id, nodeSignature(node, this.signatures, uncached ? this.nonce : changed));
    let volatile = uncached;
    for (const link of node.links) volatile ||= this.volatile.has(link.from);
    if (volatile) this.volatile.add(node.id);
  }

  /**
   * Walks back from the targets and stops at nodes whose result is cached, taking those
   * values into this run. Returns the nodes that must run.
   */
  private reuseCached(targets: Iterable<string>): Set<string> {
    const toRun = new Set<string>();
    const seen = new Set<string>();
    const stack = [...targets];
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      if (this.takeCached(id)) continue;
      toRun.add(id);
      for (const link of this.nodes.get(id)!.links) if (!seen.has(link.from)) stack.push(link.from);
    }
    return toRun;
  }

  private takeCached(id: string): boolean {
    if (this.volatile.has(id)) return false;
    const entry = this.settings.cache.get(this.signatures.get(id)!);
    if (!entry) return false;
    this.values.set(id, entry.outputs);
    if (entry.ui) this.cachedUi.push([this.nodes.get(id)!, entry.ui]);
    return true;
  }

  private showCachedUi(): void {
    for (const [node, ui] of this.cachedUi.splice(0)) this.showUi(node, ui);
  }

  /** Sets up dependency counts for `ids` (in topological order) and queues the ready ones. */
  private schedule(ids: string[], running: Set<string>): void {
    for (const id of ids) {
      let waiting = 0;
      for (const link of this.nodes.get(id)!.links) {
        if (!running.has(link.from)) continue;
        waiting++;
        this.addDependent(link.from, id);
      }
      this.pending.set(id, waiting);
      if (waiting === 0) this.ready.push(id);
    }
  }

  private addDependent(of: string, id: string): void {
    const list = this.dependents.get(of);
    if (list) list.push(id); else this.dependents.set(of, [id]);
  }

  // ---- the run loop ---------------------------------------------------------------------

  private async loop(): Promise<void> {
    let lastYield = performance.now();
    for (;;) {
      while (this.readyHead < this.ready.length && this.inFlight < this.settings.concurrency && !this.stopping()) {
        this.start(this.nodes.get(this.ready[this.readyHead++])!);
        // Long runs of sync nodes must not starve the event loop (interrupts, servers, progress).
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
      if (this.inFlight === 0) return;
      await new Promise<void>((resolve) => { this.wake = resolve; });
      lastYield = performance.now();
    }
  }

  private stopping(): boolean {
    return this.failure !== undefined || this.abort.signal.aborted;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private start(node: GraphNode): void {
    this.current = node;
    this.emit({ type: 'executing', data: { prompt_id: this.promptId, node: node.id, display_node: node.displayNode } });
    let inputs: Record<string, unknown> | undefined;
    let result: unknown;
    try {
      inputs = this.inputsOf(node);
      result = node.registered.def.run(inputs, new RunContext(this, node));
    } catch (error) {
      this.fail(node, error, inputs);
      return;
    }
    if (!isThenable(result)) {
      this.complete(node, result, inputs);
      return;
    }
    this.inFlight++;
    result.then(
      (value) => { this.inFlight--; this.complete(node, value, inputs); this.notify(); },
      (error) => { this.inFlight--; this.fail(node, error, inputs); this.notify(); },
    );
  }

  private inputsOf(node: GraphNode): Record<string, unknown> {
    const inputs: Record<string, unknown> = { ...node.literals };
    const specs = node.registered.def.inputs;
    for (const link of node.links) {
      const value = this.values.get(link.from)![link.output];
      const spec = specs[link.input];
      if (spec.kind === 'widget') {
        // A linked widget is checked when its value arrives, with the same schema as a literal.
        const parsed = spec.schema.safeParse(value);
        if (!parsed.success) {
          throw new NodeError(`input "${link.input}" must be ${spec.expected}, but node ${link.from} gave ${JSON.stringify(value)?.slice(0, 60)}`);
        }
        inputs[link.input] = parsed.data;
      } else {
        inputs[link.input] = value;
      }
    }
    return inputs;
  }

  // ---- ContextHost: what RunContext asks of the execution ------------------------------

  get signal(): AbortSignal { return this.abort.signal; }
  get outputDir(): string { return this.settings.outputDir; }
  get tempRoot(): string { return this.settings.tempRoot; }
  get logger(): Logger { return this.settings.logger; }

  progress(node: GraphNode, value: number, max: number): void {
    this.emit({ type: 'progress', data: { prompt_id: this.promptId, node: node.id, display_node: node.displayNode, value, max } });
  }

  tempDirectory(): string {
    this.tempDir ??= path.join(this.settings.tempRoot, this.promptId);
    mkdirSync(this.tempDir, { recursive: true });
    return this.tempDir;
  }

  /** What fed each input of a node: an OutputRef where linked, else the literal. */
  sourcesOf(node: GraphNode): Record<string, unknown> {
    const sources: Record<string, unknown> = {};
    for (const name in node.registered.def.inputs) sources[name] = node.literals[name];
    for (const link of node.links) sources[link.input] = new OutputRef(link.from, link.output, true);
    return sources;
  }

  // ---- completion -----------------------------------------------------------------------

  private complete(node: GraphNode, result: unknown, inputs?: Record<string, unknown>): void {
    if (isExpansion(result)) {
      this.inFlight++;
      this.expand(node, result).then(
        () => { this.inFlight--; this.notify(); },
        (error) => { this.inFlight--; this.fail(node, error, inputs); this.notify(); },
      );
      return;
    }
    let outputs: readonly unknown[];
    let ui: UiOutput | undefined;
    try {
      ({ outputs, ui } = this.checkResult(node, result));
    } catch (error) {
      this.fail(node, error, inputs);
      return;
    }
    this.store(node, outputs, ui);
  }

  private store(node: GraphNode, outputs: readonly unknown[], ui?: UiOutput): void {
    this.values.set(node.id, outputs);
    if (!this.volatile.has(node.id)) {
      const bytes = this.byteSize(node, outputs) + (ui ? estimateBytes(ui) : 0);
      this.settings.cache.set(this.signatures.get(node.id)!, { outputs, ui, bytes });
    }
    this.result.executed.push(node.id);
    if (ui) this.showUi(node, ui);
    this.release(node.id);
  }

  private showUi(node: GraphNode, ui: UiOutput): void {
    this.result.outputs[node.id] = ui;
    this.emit({ type: 'executed', data: { prompt_id: this.promptId, node: node.id, display_node: node.displayNode, output: ui } });
  }

  private byteSize(node: GraphNode, outputs: readonly unknown[]): number {
    let bytes = 0;
    for (let i = 0; i < outputs.length; i++) {
      const type = this.settings.registry.dataType(node.registered.outputTypes[i]);
      bytes += type?.byteSize ? type.byteSize(outputs[i]) : estimateBytes(outputs[i]);
    }
    return bytes;
  }

  /** Normalises what `run` returned and checks it against the declared outputs. */
  private checkResult(node: GraphNode, result: unknown): { outputs: readonly unknown[]; ui?: UiOutput } {
    const { def, outputTypes } = node.registered;
    let outputs: unknown;
    let ui: UiOutput | undefined;
    if (Array.isArray(result)) outputs = result;
    else if (result === undefined || result === null) outputs = [];
    else if (typeof result === 'object') ({ outputs = [], ui } = result as { outputs?: unknown; ui?: UiOutput });
    else throw new NodeError(`run() returned ${typeof result}; expected an array of ${def.outputs.length} output values`);
    if (!Array.isArray(outputs) || outputs.length !== def.outputs.length) {
      const got = Array.isArray(outputs) ? `${outputs.length} value${outputs.length === 1 ? '' : 's'}` : typeof outputs;
      throw new NodeError(`run() returned ${got} but ${def.type} declares ${def.outputs.length} output${def.outputs.length === 1 ? '' : 's'}`);
    }
    for (let i = 0; i < outputs.length; i++) {
      const type = this.settings.registry.dataType(outputTypes[i]);
      if (type && !(type.is ? type.is(outputs[i]) : (type.validate?.safeParse(outputs[i]).success ?? true))) {
        throw new NodeError(`output ${i} ("${def.outputs[i].name}") should be ${outputTypes[i]}, got ${JSON.stringify(outputs[i])?.slice(0, 60)}`);
      }
    }
    return { outputs, ui };
  }

  /** Releases the dependents of a finished node; those with nothing left to wait for become ready. */
  private release(id: string): void {
    const step = this.progressOf.get(id);
    if (step) this.countProgress(step.parent, step.counter);
    for (const next of this.dependents.get(id) ?? []) {
      const left = this.pending.get(next)! - 1;
      this.pending.set(next, left);
      if (left > 0) continue;
      if (this.expansions.has(next)) this.finishExpansion(this.nodes.get(next)!);
      else this.ready.push(next);
    }
  }

  private countProgress(parent: string, counter: { done: number; total: number }): void {
    counter.done++;
    this.progress(this.nodes.get(parent)!, counter.done, counter.total);
  }

  // ---- expansion ------------------------------------------------------------------------

  private async expand(parent: GraphNode, expansion: Expansion): Promise<void> {
    const prefix = `${parent.id}.`;
    const toLink = (v: unknown) => (v instanceof OutputRef ? [v.external ? v.node : prefix + v.node, v.output] : v);
    const outputs = expansion.outputs.map(toLink);
    const problems: Problem[] = [];
    if (outputs.length !== parent.registered.def.outputs.length) {
      problems.push({ nodeId: parent.id, nodeType: parent.registered.def.type, code: 'bad_output_index',
        message: `the expansion gives ${outputs.length} outputs for ${parent.registered.def.outputs.length} declared` });
    }
    const key = expansionKey(prefix, parent.displayNode, expansion,
      (id) => (this.values.has(id) ? this.nodes.get(id)!.registered.def.type : ''));
    let added = key === undefined ? undefined : findPlan(this.settings.registry, key);
    if (!added) {
      added = this.resolveExpansion(parent, expansion, toLink, problems);
      if (key !== undefined && problems.length === 0) keepPlan(this.settings.registry, key, added);
    }
    if (problems.length) throw new NodeError(`invalid expansion: ${problems.map(formatProblem).join('; ')}`);
    const local = new Set(added.map((n) => n.id));

    for (const node of added) this.nodes.set(node.id, node);
    const changed = await this.askIsChanged(added.map((n) => n.id));
    for (const node of added) this.sign(node, changed.get(node.id));

    const counter = { done: 0, total: expansion.progress.length };
    for (const localId of expansion.progress) this.progressOf.set(prefix + localId, { parent: parent.id, counter });

    const resultNodes = outputs.filter((o): o is [string, number] => Array.isArray(o) && local.has(o[0] as string)).map((o) => o[0]);
    const toRun = this.reuseCached(resultNodes);
    this.showCachedUi();
    for (const node of added) {
      if (!toRun.has(node.id) && this.progressOf.has(node.id)) this.countProgress(parent.id, counter);
    }
    this.expansions.set(parent.id, expansion);
    // The parent finishes when the sub-graph nodes it returns have run.
    const waitFor = new Set(resultNodes.filter((id) => toRun.has(id)));
    for (const id of waitFor) this.addDependent(id, parent.id);
    this.pending.set(parent.id, waitFor.size);
    this.schedule(added.map((n) => n.id).filter((id) => toRun.has(id)), toRun);
    if (waitFor.size === 0) this.finishExpansion(parent);
  }

  /** Checks and resolves an expansion's nodes, adding every problem found to `problems`. */
  private resolveExpansion(parent: GraphNode, expansion: Expansion, toLink: (v: unknown) => unknown, problems: Problem[]): GraphNode[] {
    const prefix = `${parent.id}.`;
    const added: GraphNode[] = [];
    // Sub-graph nodes may only link to nodes added before them, so the sub-graph is acyclic.
    const local = new Map<string, GraphNode>();
    const sourceOf = (id: string) => {
      const sibling = local.get(id);
      if (sibling) return sibling.registered;
      if (!id.startsWith(prefix) && this.values.has(id)) return this.nodes.get(id)!.registered;
      return undefined;
    };
    for (const [localId, sub] of expansion.nodes) {
      const id = prefix + localId;
      const registered = this.settings.registry.get(sub.type);
      if (!registered) {
        problems.push({ nodeId: id, nodeType: sub.type, code: 'unknown_node_type', message: `unknown node type "${sub.type}"` });
        continue;
      }
      const raw: Record<string, unknown> = {};
      for (const k in sub.inputs) raw[k] = toLink(sub.inputs[k]);
      const node = resolveNode(id, registered, raw, sourceOf, this.settings.registry, problems, parent.displayNode);
      local.set(id, node);
      added.push(node);
    }
    return added;
  }

  private finishExpansion(parent: GraphNode): void {
    const expansion = this.expansions.get(parent.id)!;
    this.expansions.delete(parent.id);
    const prefix = `${parent.id}.`;
    const outputs = expansion.outputs.map((o) => {
      if (!(o instanceof OutputRef)) return o;
      return this.values.get(o.external ? o.node : prefix + o.node)![o.output];
    });
    try {
      this.checkResult(parent, outputs);
    } catch (error) {
      this.fail(parent, error);
      return;
    }
    this.store(parent, outputs);
    if (expansion.transient) this.releaseTransient(parent, expansion, outputs);
  }

  /**
   * Once a transient expansion's parent has its result, the sub-graph's results computed into
   * pool arrays leave the cache, and the arrays only they reach go back to the pool. Everything
   * else stays: results without pool arrays (the stacked conditioning, reused by the next run),
   * results some run was handed from the cache (this one included: takeBack refuses those), and
   * the parent's outputs and inputs (a step may hand an input on as its output, and that array
   * belongs to the node upstream). Volatile results were never cached: this run made them.
   */
  private releaseTransient(parent: GraphNode, expansion: Expansion, parentOutputs: readonly unknown[]): void {
    const reachable = new Set<ArrayBufferLike>();
    const views: ArrayBufferView[] = [];
    if (!collectViews(parentOutputs, views)) return; // too deep to be sure of anything: recycle nothing
    for (const link of parent.links) {
      const input = viewsOf(this.values.get(link.from)?.[link.output]);
      if (!input) return;
      for (const v of input) reachable.add(v.buffer);
    }
    for (const v of views) reachable.add(v.buffer);
    // Every step's values are walked before any leaves the cache: all of them, or none.
    const steps: { id: string; outputs: readonly unknown[]; views: ArrayBufferView[] }[] = [];
    for (const localId of expansion.nodes.keys()) {
      const id = `${parent.id}.${localId}`;
      const outputs = this.values.get(id);
      if (!outputs) continue;
      const stepViews: ArrayBufferView[] = [];
      if (!collectViews(outputs, stepViews)) return;
      steps.push({ id, outputs, views: stepViews });
    }
    const released: ArrayBufferView[] = [];
    for (const { id, outputs, views: stepViews } of steps) {
      const drop = stepViews.some(isPooled) && (this.volatile.has(id) || this.settings.cache.takeBack(this.signatures.get(id)!, outputs));
      if (drop) released.push(...stepViews);
      else for (const v of stepViews) reachable.add(v.buffer);
    }
    // recycle takes back pool arrays only, each once
    recycle(released.filter((a) => !reachable.has(a.buffer)));
  }

  // ---- failure and the end --------------------------------------------------------------

  private fail(node: GraphNode, error: unknown, inputs?: Record<string, unknown>): void {
    if (this.stopping()) return; // the first failure or the interrupt is what gets reported
    this.failure = { node, error, inputs };
    this.abort.abort(error); // tells other running nodes to stop
  }

  private finish(): ExecutionResult {
    const r = this.result;
    const base = { prompt_id: this.promptId, executed: r.executed, timestamp: Date.now() };
    if (this.external?.aborted) {
      r.status = 'interrupted';
      const node = this.failure?.node ?? this.current;
      this.emit({ type: 'execution_interrupted', data: { ...base, node_id: node?.id ?? null, node_type: node?.registered.def.type ?? null } });
    } else if (this.failure) {
      r.status = 'error';
      r.error = this.errorData(this.failure.node, this.failure.error, this.failure.inputs);
      this.emit({ type: 'execution_error', data: r.error });
    } else {
      this.emit({ type: 'execution_success', data: { prompt_id: this.promptId, timestamp: Date.now() } });
    }
    return r;
  }

  private errorData(node: GraphNode, error: unknown, inputs?: Record<string, unknown>): ExecutionErrorData {
    const err = error instanceof Error ? error : new Error(String(error));
    const currentInputs: Record<string, string> = {};
    for (const [k, v] of Object.entries(inputs ?? {})) currentInputs[k] = describeValue(v);
    const type = node.registered.def.type;
    this.settings.logger.error(`node ${node.id} (${type}) failed: ${err.message}`);
    return {
      prompt_id: this.promptId,
      node_id: node.id,
      node_type: type,
      display_node: node.displayNode,
      executed: this.result.executed,
      exception_message: err.message,
      exception_type: err.name,
      traceback: this.settings.debug && !(err instanceof NodeError) ? (err.stack ?? '').split('\n') : [],
      current_inputs: currentInputs,
      current_outputs: {},
      timestamp: Date.now(),
    };
  }
}

/** Deeper values (or a cycle) are not walked: whoever asked then gives nothing back to the pool. */
const MAX_DEPTH = 12;

/**
 * Adds the typed arrays inside arrays and plain objects (tensors, conditionings) to `into`;
 * false when `value` nests deeper than MAX_DEPTH. Class instances are not ours to look into.
 */
function collectViews(value: unknown, into: ArrayBufferView[], depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (ArrayBuffer.isView(value)) { into.push(value); return true; }
  if (depth === MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!collectViews(v, into, depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return true;
  for (const key in value) if (!collectViews((value as Record<string, unknown>)[key], into, depth + 1)) return false;
  return true;
}

/**
 * collectViews of a value that flows into nodes, kept per object: values never change once a
 * node returned them, and a sampler's model and conditionings come back run after run (the
 * model alone is dozens of objects deep in port descriptions). Undefined when too deep.
 */
const viewsMemo = new WeakMap<object, readonly ArrayBufferView[] | undefined>();
function viewsOf(value: unknown): readonly ArrayBufferView[] | undefined {
  if (typeof value !== 'object' || value === null) return [];
  if (viewsMemo.has(value)) return viewsMemo.get(value);
  const views: ArrayBufferView[] = [];
  const result = collectViews(value, views) ? views : undefined;
  viewsMemo.set(value, result);
  return result;
}


function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function describeValue(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength} bytes)`;
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

