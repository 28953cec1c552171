import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  defineDataType, defineNode, Engine, int, INT, optional, socket, ANY, string,
  type EngineEvent, type EngineOptions, type Logger,
} from '../engine/index.ts';
import { registerBuiltins } from '../nodes/index.ts';

export const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function tempDir(name = 'sanagraph-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), name));
}

export function workflow(nodes: Record<string, { type: string; inputs?: Record<string, unknown> }>) {
  return {
    format: 'sanagraph/workflow@1' as const,
    nodes: Object.fromEntries(Object.entries(nodes).map(([id, n]) => [id, { type: n.type, inputs: n.inputs ?? {} }])),
  };
}

/** A byte-sized blob, so tests can fill the cache's byte budget precisely. */
export const BLOB = defineDataType<{ size: number }>({ name: 'BLOB', byteSize: (b) => b.size });

/**
 * Nodes for engine tests. Every run is recorded in `calls` (as the node id), so a test
 * can tell which nodes ran and which came from the cache.
 */
export function testNodes(calls: string[], state: { stamp: unknown } = { stamp: 1 }) {
  return [
    defineNode({
      type: 'Const', category: 'test', description: 'an integer constant',
      inputs: { value: int({ default: 0, min: -1000, max: 1000 }) },
      outputs: [{ name: 'value', type: INT }],
      run: ({ value }, ctx) => { calls.push(ctx.nodeId); return [value]; },
    }),
    defineNode({
      type: 'Inc', category: 'test', description: 'x + by',
      inputs: { x: socket(INT), by: int({ default: 1 }) },
      outputs: [{ name: 'value', type: INT }],
      run: ({ x, by }, ctx) => { calls.push(ctx.nodeId); return [x + by]; },
    }),
    defineNode({
      type: 'Add', category: 'test', description: 'a + b',
      inputs: { a: socket(INT), b: socket(INT) },
      outputs: [{ name: 'sum', type: INT }],
      run: ({ a, b }, ctx) => { calls.push(ctx.nodeId); return [a + b]; },
    }),
    defineNode({
      type: 'Sink', category: 'test', description: 'an output node showing its input',
      output: true,
      inputs: { x: socket(ANY), label: optional(string()) },
      outputs: [],
      run: ({ x, label }, ctx) => { calls.push(ctx.nodeId); return { ui: { value: [x], ...(label ? { label: [label] } : {}) } }; },
    }),
    defineNode({
      type: 'Slow', category: 'test', description: 'waits, then passes x on; stops early when aborted',
      inputs: { x: socket(INT), ms: int({ default: 50 }) },
      outputs: [{ name: 'value', type: INT }],
      run: async ({ x, ms }, ctx) => {
        calls.push(`${ctx.nodeId}:start`);
        await sleep(ms, undefined, { signal: ctx.signal });
        calls.push(ctx.nodeId);
        return [x];
      },
    }),
    defineNode({
      type: 'Fail', category: 'test', description: 'always throws',
      inputs: { x: socket(INT) },
      outputs: [{ name: 'value', type: INT }],
      run: (_inputs, ctx) => { calls.push(ctx.nodeId); throw new Error('this node always fails'); },
    }),
    defineNode({
      type: 'Counter', category: 'test', description: 'never cached: counts its runs',
      cache: false,
      inputs: {},
      outputs: [{ name: 'value', type: INT }],
      run: (_inputs, ctx) => { calls.push(ctx.nodeId); return [calls.filter((c) => c === ctx.nodeId).length]; },
    }),
    defineNode({
      type: 'Stamped', category: 'test', description: 'isChanged answers state.stamp',
      inputs: { value: int({ default: 0 }) },
      outputs: [{ name: 'value', type: INT }],
      isChanged: () => state.stamp,
      run: ({ value }, ctx) => { calls.push(ctx.nodeId); return [value]; },
    }),
    defineNode({
      type: 'Blob', category: 'test', description: 'a BLOB of a given size',
      inputs: { size: int({ default: 100 }) },
      outputs: [{ name: 'blob', type: BLOB }],
      run: ({ size }, ctx) => { calls.push(ctx.nodeId); return [{ size }]; },
    }),
    defineNode({
      type: 'Repeat', category: 'test', description: 'expands into `times` Inc nodes in a chain',
      inputs: { x: socket(INT), times: int({ default: 3, min: 0, max: 100 }) },
      outputs: [{ name: 'value', type: INT }],
      run: ({ times }, ctx) => {
        calls.push(ctx.nodeId);
        const g = ctx.subgraph();
        let value = g.input('x');
        for (let i = 0; i < times; i++) value = g.add('Inc', { x: value, by: 1 }, { progress: true }).out(0);
        return g.result([value]);
      },
    }),
    defineNode({
      type: 'Progress', category: 'test', description: 'reports progress 1..3',
      inputs: { x: socket(INT) },
      outputs: [{ name: 'value', type: INT }],
      run: ({ x }, ctx) => { for (let i = 1; i <= 3; i++) ctx.progress(i, 3); calls.push(ctx.nodeId); return [x]; },
    }),
  ];
}

export function makeEngine(calls: string[] = [], opts: EngineOptions & { state?: { stamp: unknown } } = {}) {
  const engine = new Engine({ outputDir: tempDir(), tempDir: tempDir(), logger: quietLogger, ...opts });
  registerBuiltins(engine.registry);
  engine.registry.register(testNodes(calls, opts.state), 'tests/helpers.ts');
  return engine;
}

export function recorder() {
  const events: EngineEvent[] = [];
  return { events, onEvent: (e: EngineEvent) => { events.push(e); }, types: () => events.map((e) => e.type) };
}

/** A chain Const → Inc × (n-1) → Sink, ids "1".."n", sink "sink". */
export function chain(n: number) {
  const nodes: Record<string, { type: string; inputs?: Record<string, unknown> }> = { 1: { type: 'Const', inputs: { value: 1 } } };
  for (let i = 2; i <= n; i++) nodes[i] = { type: 'Inc', inputs: { x: [String(i - 1), 0] } };
  nodes.sink = { type: 'Sink', inputs: { x: [String(n), 0] } };
  return workflow(nodes);
}
