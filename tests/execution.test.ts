import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chain, makeEngine, recorder, workflow } from './helpers.ts';

describe('execution', () => {
  it('runs nodes in dependency order and emits ComfyUI-style events', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    const rec = recorder();
    const result = await engine.execute(workflow({
      a: { type: 'Const', inputs: { value: 2 } },
      b: { type: 'Const', inputs: { value: 3 } },
      sum: { type: 'Add', inputs: { a: ['a', 0], b: ['b', 0] } },
      out: { type: 'Sink', inputs: { x: ['sum', 0] } },
    }), { onEvent: rec.onEvent, promptId: 'p1' });
    assert.equal(result.status, 'success');
    assert.deepEqual(result.outputs, { out: { value: [5] } });
    assert.deepEqual(calls, ['a', 'b', 'sum', 'out']);
    assert.deepEqual(rec.types(), ['execution_start', 'execution_cached', 'executing', 'executing', 'executing', 'executing', 'executed', 'execution_success']);
    assert.ok(rec.events.every((e) => e.data.prompt_id === 'p1'));
    const executed = rec.events.find((e) => e.type === 'executed')!;
    assert.deepEqual(executed.data, { prompt_id: 'p1', node: 'out', display_node: 'out', output: { value: [5] } });
  });

  it('runs only output nodes and their ancestors', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    await engine.execute(workflow({
      1: { type: 'Const', inputs: { value: 1 } },
      2: { type: 'Inc', inputs: { x: ['1', 0] } },
      3: { type: 'Sink', inputs: { x: ['1', 0] } },
      4: { type: 'Const', inputs: { value: 9 } }, // feeds nothing that is an output
    }));
    assert.deepEqual(calls.sort(), ['1', '3']);
  });

  it('runs only the requested targets (partial execution)', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    const wf = workflow({
      1: { type: 'Const', inputs: { value: 1 } },
      2: { type: 'Sink', inputs: { x: ['1', 0] } },
      3: { type: 'Const', inputs: { value: 2 } },
      4: { type: 'Sink', inputs: { x: ['3', 0] } },
    });
    const result = await engine.execute(wf, { targets: ['4'] });
    assert.deepEqual(calls, ['3', '4']);
    assert.deepEqual(Object.keys(result.outputs), ['4']);
  });

  it('passes values along a deep chain without recursion limits', async () => {
    const engine = makeEngine();
    const result = await engine.execute(chain(20_000));
    assert.deepEqual(result.outputs.sink, { value: [20_000] });
  });

  it('overlaps independent async branches', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    const result = await engine.execute(workflow({
      1: { type: 'Const', inputs: { value: 1 } },
      2: { type: 'Slow', inputs: { x: ['1', 0], ms: 50 } },
      3: { type: 'Slow', inputs: { x: ['1', 0], ms: 50 } },
      4: { type: 'Add', inputs: { a: ['2', 0], b: ['3', 0] } },
      5: { type: 'Sink', inputs: { x: ['4', 0] } },
    }));
    // Both slow nodes start before either finishes.
    assert.deepEqual(calls.slice(0, 3), ['1', '2:start', '3:start']);
    assert.deepEqual(result.outputs['5'], { value: [2] });
  });

  it('reports progress from a node', async () => {
    const engine = makeEngine();
    const rec = recorder();
    await engine.execute(workflow({ 1: { type: 'Const' }, 2: { type: 'Progress', inputs: { x: ['1', 0] } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } } }), { onEvent: rec.onEvent });
    const progress = rec.events.filter((e) => e.type === 'progress').map((e) => e.data);
    assert.deepEqual(progress.map((p) => [p.node, p.value, p.max]), [['2', 1, 3], ['2', 2, 3], ['2', 3, 3]]);
  });

  it('fails the execution with a clear error event and stays usable', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    const rec = recorder();
    const result = await engine.execute(workflow({
      1: { type: 'Const', inputs: { value: 4 } },
      2: { type: 'Fail', inputs: { x: ['1', 0] } },
      3: { type: 'Sink', inputs: { x: ['2', 0] } },
    }), { onEvent: rec.onEvent });
    assert.equal(result.status, 'error');
    assert.equal(rec.types().at(-1), 'execution_error');
    const error = result.error!;
    assert.equal(error.node_id, '2');
    assert.equal(error.node_type, 'Fail');
    assert.equal(error.exception_message, 'this node always fails');
    assert.deepEqual(error.current_inputs, { x: '4' });
    assert.deepEqual(error.executed, ['1']);
    assert.deepEqual(error.traceback, [], 'no stack unless debug');
    assert.ok(!calls.includes('3'));
    const ok = await engine.execute(workflow({ 1: { type: 'Const', inputs: { value: 4 } }, 3: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.equal(ok.status, 'success');
  });

  it('includes the stack in debug mode', async () => {
    const engine = makeEngine([], { debug: true });
    const result = await engine.execute(workflow({ 1: { type: 'Const' }, 2: { type: 'Fail', inputs: { x: ['1', 0] } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } } }));
    assert.match(result.error!.traceback.join('\n'), /this node always fails\n\s+at /);
  });

  it('reports a node that returns the wrong number or type of outputs', async () => {
    const engine = makeEngine();
    const { defineNode, INT } = await import('../engine/index.ts');
    engine.registry.register([
      defineNode({ type: 'TwoForOne', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: INT }], run: () => [1, 2] as unknown as [number] }),
      defineNode({ type: 'NotInt', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: INT }], run: () => ['seven'] as unknown as [number] }),
    ], 'test');
    const r1 = await engine.execute(workflow({ 1: { type: 'TwoForOne' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.match(r1.error!.exception_message, /returned 2 values but TwoForOne declares 1 output/);
    const r2 = await engine.execute(workflow({ 1: { type: 'NotInt' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.match(r2.error!.exception_message, /output 0 \("v"\) should be INT, got "seven"/);
  });

  it('checks outputs with a data type\'s plain predicate where it has one', async () => {
    const engine = makeEngine();
    const { defineNode, defineDataType } = await import('../engine/index.ts');
    const { z } = await import('zod');
    // `validate` accepts any number: only the predicate can reject 3
    const EVEN = defineDataType<number>({ name: 'EVEN', validate: z.number(), is: (v): v is number => typeof v === 'number' && v % 2 === 0 });
    engine.registry.register([
      defineNode({ type: 'Three', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: EVEN }], run: () => [3] }),
      defineNode({ type: 'Four', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: EVEN }], run: () => [4] }),
    ], 'test');
    const bad = await engine.execute(workflow({ 1: { type: 'Three' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.match(bad.error!.exception_message, /output 0 \("v"\) should be EVEN, got 3/);
    const good = await engine.execute(workflow({ 1: { type: 'Four' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.deepEqual(good.outputs['2'], { value: [4] });
  });

  it('checks a value linked into a widget against the widget schema', async () => {
    const engine = makeEngine();
    const result = await engine.execute(workflow({
      1: { type: 'PrimitiveInt', inputs: { value: 5000 } },
      2: { type: 'Const', inputs: { value: ['1', 0] } },
      3: { type: 'Sink', inputs: { x: ['2', 0] } },
    }));
    assert.equal(result.status, 'error');
    assert.match(result.error!.exception_message, /input "value" must be an integer between -1000 and 1000, but node 1 gave 5000/);
  });

  describe('cancellation', () => {
    it('stops inside a node that checks the signal and keeps finished results cached', async () => {
      const calls: string[] = [];
      const engine = makeEngine(calls);
      const controller = new AbortController();
      const rec = recorder();
      const wf = workflow({
        1: { type: 'Const', inputs: { value: 1 } },
        2: { type: 'Slow', inputs: { x: ['1', 0], ms: 5000 } },
        3: { type: 'Sink', inputs: { x: ['2', 0] } },
      });
      setTimeout(() => controller.abort(), 50);
      const result = await engine.execute(wf, { signal: controller.signal, onEvent: rec.onEvent });
      assert.equal(result.status, 'interrupted');
      assert.deepEqual(calls, ['1', '2:start'], 'the 5 s node stopped when the signal fired');
      const last = rec.events.at(-1)!;
      assert.equal(last.type, 'execution_interrupted');
      assert.deepEqual(last.type === 'execution_interrupted' && [last.data.node_id, last.data.node_type, last.data.executed], ['2', 'Slow', ['1']]);
      calls.length = 0;
      const again = await engine.execute(workflow({
        1: { type: 'Const', inputs: { value: 1 } }, 2: { type: 'Slow', inputs: { x: ['1', 0], ms: 1 } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } },
      }));
      assert.equal(again.status, 'success');
      assert.ok(!calls.includes('1'), 'the Const finished before the interrupt was reused');
    });

    it('stops at the next node boundary in a long chain of sync nodes', async () => {
      const calls: string[] = [];
      const engine = makeEngine(calls);
      const controller = new AbortController();
      let executing = 0;
      const result = await engine.execute(chain(200_000), {
        signal: controller.signal,
        onEvent: (e) => { if (e.type === 'executing' && ++executing === 1000) setImmediate(() => controller.abort()); },
      });
      assert.equal(result.status, 'interrupted');
      assert.ok(calls.length >= 1000 && calls.length < 200_000, `stopped part way (${calls.length} ran)`);
    });

    it('does not start when the signal is already aborted', async () => {
      const calls: string[] = [];
      const engine = makeEngine(calls);
      const result = await engine.execute(chain(3), { signal: AbortSignal.abort() });
      assert.equal(result.status, 'interrupted');
      assert.deepEqual(calls, []);
    });
  });

  describe('expansion', () => {
    const wf = (times: number, start = 10) => workflow({
      1: { type: 'Const', inputs: { value: start } },
      2: { type: 'Repeat', inputs: { x: ['1', 0], times } },
      3: { type: 'Sink', inputs: { x: ['2', 0] } },
    });

    it('runs the sub-graph in place of the node, with ids <parent>.<n> and progress per step', async () => {
      const calls: string[] = [];
      const engine = makeEngine(calls);
      const rec = recorder();
      const result = await engine.execute(wf(3), { onEvent: rec.onEvent });
      assert.deepEqual(result.outputs['3'], { value: [13] });
      assert.deepEqual(calls, ['1', '2', '2.1', '2.2', '2.3', '3']);
      const executing = rec.events.filter((e) => e.type === 'executing').map((e) => e.type === 'executing' && [e.data.node, e.data.display_node]);
      assert.deepEqual(executing, [['1', '1'], ['2', '2'], ['2.1', '2'], ['2.2', '2'], ['2.3', '2'], ['3', '3']]);
      const progress = rec.events.filter((e) => e.type === 'progress').map((e) => e.type === 'progress' && [e.data.node, e.data.value, e.data.max]);
      assert.deepEqual(progress, [['2', 1, 3], ['2', 2, 3], ['2', 3, 3]]);
      assert.deepEqual(result.executed, ['1', '2.1', '2.2', '2.3', '2', '3']);
    });

    it('caches expanded nodes by signature, so a longer expansion reuses the shared steps', async () => {
      const calls: string[] = [];
      const engine = makeEngine(calls);
      await engine.execute(wf(3));
      calls.length = 0;
      const result = await engine.execute(wf(5));
      assert.deepEqual(result.outputs['3'], { value: [15] });
      assert.deepEqual(calls, ['2', '2.4', '2.5', '3']);
      calls.length = 0;
      await engine.execute(wf(5));
      assert.deepEqual(calls, [], 'the expanding node itself is cached');
    });

    it('passes a literal straight through an empty expansion', async () => {
      const engine = makeEngine();
      const result = await engine.execute(wf(0, 7));
      assert.deepEqual(result.outputs['3'], { value: [7] });
    });

    describe('transient', () => {
      /** Vectors through a transient Repeat of element-wise kernel steps; records what each step output. */
      async function vectorEngine() {
        const calls: string[] = [];
        const engine = makeEngine(calls);
        const { defineNode, socket, int, float } = await import('../engine/index.ts');
        const { add, elementwise } = await import('../engine/elementwise.ts');
        const plusOne = elementwise({ name: 'plusOne', inputs: ['x'] }, ({ x }) => [add(x, 1)]);
        const stepOutputs: Float32Array[] = [];
        const kept: { data: Float32Array }[] = [];
        let failAt = '';
        engine.registry.register([
          defineNode({ type: 'VecConst', category: 't', description: '', inputs: { value: float({ default: 0 }) }, outputs: [{ name: 'v', type: 'VEC' }],
            run: ({ value }) => [{ data: new Float32Array(1024).fill(value) }] }),
          defineNode({ type: 'VecStep', category: 't', description: '', inputs: { x: socket<{ data: Float32Array }>('VEC') }, outputs: [{ name: 'v', type: 'VEC' }],
            run: async ({ x }, ctx) => {
              calls.push(ctx.nodeId);
              if (ctx.nodeId === failAt) throw new Error('step failed');
              await new Promise(setImmediate); // lets concurrent runs interleave
              const data = plusOne.run([x.data])[0];
              stepOutputs.push(data);
              return [{ data }];
            } }),
          defineNode({ type: 'VecRepeat', category: 't', description: '', inputs: { x: socket('VEC'), times: int({ default: 3, min: 1, max: 100 }) }, outputs: [{ name: 'v', type: 'VEC' }],
            run: ({ times }, ctx) => {
              const g = ctx.subgraph({ transient: true });
              let v = g.input('x');
              for (let i = 0; i < times; i++) v = g.add('VecStep', { x: v }, { progress: true }).out(0);
              return g.result([v]);
            } }),
          defineNode({ type: 'VecKeep', category: 't', description: '', output: true, inputs: { x: socket<{ data: Float32Array }>('VEC') }, outputs: [],
            run: ({ x }) => { kept.push(x); return []; } }),
          // Hands its input on as its output (a reroute, a step that has nothing to do).
          defineNode({ type: 'VecPass', category: 't', description: '', inputs: { x: socket<{ data: Float32Array }>('VEC') }, outputs: [{ name: 'v', type: 'VEC' }],
            run: ({ x }) => [x] }),
        ], 'test');
        /** Registers `type`: a transient sub-graph of a `first` node, then a VecStep. */
        const thenStep = (type: string, first: string) => engine.registry.register([
          defineNode({ type, category: 't', description: '', inputs: { x: socket('VEC') }, outputs: [{ name: 'v', type: 'VEC' }],
            run: (_inputs, ctx) => {
              const g = ctx.subgraph({ transient: true });
              const firstOut = g.add(first, { x: g.input('x') }).out(0);
              return g.result([g.add('VecStep', { x: firstOut }).out(0)]);
            } }),
        ], 'test');
        thenStep('VecPassThenStep', 'VecPass');
        const run = async (start: number, times = 4) => {
          const result = await engine.execute(workflow({
            1: { type: 'VecConst', inputs: { value: start } }, 2: { type: 'VecRepeat', inputs: { x: ['1', 0], times } }, 3: { type: 'VecKeep', inputs: { x: ['2', 0] } } }));
          return result;
        };
        return { engine, calls, stepOutputs, kept, run, thenStep, failAt: (id: string) => { failAt = id; } };
      }

      it('drops the steps from the cache once the parent has its result, and the next run computes into their arrays', async () => {
        const v = await vectorEngine();
        assert.equal((await v.run(0)).status, 'success');
        const first = v.stepOutputs.splice(0);
        assert.ok(v.kept[0].data.every((x) => x === 4));
        assert.equal((await v.run(10)).status, 'success');
        const second = v.stepOutputs.splice(0);
        assert.ok(v.kept[1].data.every((x) => x === 14));
        assert.ok(v.kept[0].data.every((x) => x === 4), 'the first run\'s result (it escaped the sub-graph) is untouched');
        assert.ok(second.some((a) => first.includes(a)), 'steps of the second run reuse arrays of the first');
        assert.ok(!second.includes(first[3]), 'but never the array the parent returned');
        v.calls.length = 0;
        await v.run(0, 5);
        assert.deepEqual(v.calls, ['2.1', '2.2', '2.3', '2.4', '2.5'], 'the steps were not cached any more');
      });

      it('never recycles an input a step hands on as its output: it belongs to the node upstream', async () => {
        const v = await vectorEngine();
        const chained = (start: number) => v.engine.execute(workflow({
          1: { type: 'VecConst', inputs: { value: start } }, 2: { type: 'VecRepeat', inputs: { x: ['1', 0], times: 2 } },
          3: { type: 'VecPassThenStep', inputs: { x: ['2', 0] } }, 4: { type: 'VecKeep', inputs: { x: ['2', 0] } }, 5: { type: 'VecKeep', inputs: { x: ['3', 0] } } }));
        assert.equal((await chained(0)).status, 'success');
        const upstream = v.kept.find((k) => k.data[0] === 2)!;
        assert.ok(upstream, 'the first Repeat gave 2s');
        for (const start of [10, 20, 30]) assert.equal((await chained(start)).status, 'success');
        assert.ok(upstream.data.every((x) => x === 2), 'the first run\'s upstream result (still cached) is untouched');
        assert.deepEqual(v.kept.map((k) => k.data[0]).sort((a, b) => a - b), [2, 3, 12, 13, 22, 23, 32, 33]);
        for (const k of v.kept) assert.ok(k.data.every((x) => x === k.data[0]), 'every kept vector is intact');
      });

      it('keeps the finished steps of a failed run cached, so running it again resumes', async () => {
        const v = await vectorEngine();
        v.failAt('2.3');
        assert.equal((await v.run(0)).status, 'error');
        v.failAt('');
        v.calls.length = 0;
        assert.equal((await v.run(0)).status, 'success');
        assert.deepEqual(v.calls, ['2.3', '2.4']);
        assert.ok(v.kept[0].data.every((x) => x === 4));
      });

      it('gives nothing back from a sub-graph whose values nest in a cycle, and keeps running', async () => {
        const v = await vectorEngine();
        const { defineNode, socket } = await import('../engine/index.ts');
        const { newArray } = await import('../engine/scratch.ts');
        const made: Float32Array[] = [];
        v.engine.registry.register([
          defineNode({ type: 'VecLoop', category: 't', description: '', inputs: { x: socket<{ data: Float32Array }>('VEC') }, outputs: [{ name: 'v', type: 'VEC' }],
            run: ({ x }) => {
              const data = newArray(x.data.length).fill(x.data[0] + 1);
              made.push(data);
              const value: { data: Float32Array; self?: unknown } = { data };
              value.self = value;
              return [value];
            } }),
        ], 'test');
        v.thenStep('VecLoops', 'VecLoop');
        for (const start of [0, 10]) {
          const result = await v.engine.execute(workflow({
            1: { type: 'VecConst', inputs: { value: start } }, 2: { type: 'VecLoops', inputs: { x: ['1', 0] } }, 3: { type: 'VecKeep', inputs: { x: ['2', 0] } } }));
          assert.equal(result.status, 'success');
        }
        assert.deepEqual(v.kept.map((k) => k.data[0]), [2, 12]);
        assert.ok(made[0].every((x) => x === 1), 'the first run\'s cyclic value was not given back to the pool and overwritten');
      });

      it('stays correct when runs overlap and take each other\'s finished steps from the cache', async () => {
        const v = await vectorEngine();
        const results = await Promise.all([v.run(1), v.run(1), v.run(2, 6), v.run(1)]);
        assert.deepEqual(results.map((r) => r.status), ['success', 'success', 'success', 'success']);
        assert.equal((await v.run(50)).status, 'success');
        assert.equal((await v.run(60)).status, 'success');
        assert.deepEqual(v.kept.map((k) => k.data[0]).sort((a, b) => a - b), [5, 5, 5, 8, 54, 64]);
        for (const k of v.kept) assert.ok(k.data.every((x) => x === k.data[0]), 'every kept vector is intact');
      });
    });

    it('reuses a resolved sub-graph only where its literals and the types of its outside sources match', async () => {
      const engine = makeEngine();
      const { defineNode, socket, int, ANY, STRING, INT } = await import('../engine/index.ts');
      engine.registry.register([
        defineNode({ type: 'Text', category: 't', description: '', inputs: {}, outputs: [{ name: 's', type: STRING }], run: () => ['seven'] }),
        defineNode({ type: 'IncBy', category: 't', description: '', inputs: { x: socket(ANY), by: int({ default: 1 }) }, outputs: [{ name: 'v', type: INT }],
          run: ({ by }, ctx) => { const g = ctx.subgraph(); return g.result([g.add('Inc', { x: g.input('x'), by }).out(0)]); } }),
      ], 'test');
      const run = (source: { type: string; inputs?: Record<string, unknown> }, by: number) => engine.execute(workflow({
        1: source, 2: { type: 'IncBy', inputs: { x: ['1', 0], by } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } } }));
      assert.deepEqual((await run({ type: 'Const', inputs: { value: 10 } }, 1)).outputs['3'], { value: [11] });
      assert.deepEqual((await run({ type: 'Const', inputs: { value: 10 } }, 5)).outputs['3'], { value: [15] }, 'a changed literal');
      assert.deepEqual((await run({ type: 'Const', inputs: { value: 20 } }, 5)).outputs['3'], { value: [25] }, 'the same sub-graph, another value');
      const wrong = await run({ type: 'Text' }, 5);
      assert.equal(wrong.status, 'error', 'a STRING source is checked again, not taken for the INT one');
      assert.match(wrong.error!.exception_message, /invalid expansion: node 2\.1 \(Inc\), input "x": expects INT/);
    });

    it('reports an invalid sub-graph as an error of the expanding node', async () => {
      const engine = makeEngine();
      const { defineNode, INT } = await import('../engine/index.ts');
      engine.registry.register([defineNode({
        type: 'BadExpand', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: INT }],
        run: (_i, ctx) => { const g = ctx.subgraph(); return g.result([g.add('Missing', {}).out(0)]); },
      })], 'test');
      const result = await engine.execute(workflow({ 1: { type: 'BadExpand' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
      assert.equal(result.status, 'error');
      assert.equal(result.error!.node_id, '1');
      assert.match(result.error!.exception_message, /invalid expansion: node 1\.1 \(Missing\): unknown node type "Missing"/);
    });

    it('reports a wrong output count together with the sub-graph\'s other problems', async () => {
      const engine = makeEngine();
      const { defineNode, INT } = await import('../engine/index.ts');
      engine.registry.register([defineNode({
        type: 'BadExpand2', category: 't', description: '', inputs: {}, outputs: [{ name: 'v', type: INT }],
        run: (_i, ctx) => { const g = ctx.subgraph(); g.add('Missing', {}); return g.result([]); },
      })], 'test');
      const result = await engine.execute(workflow({ 1: { type: 'BadExpand2' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
      assert.match(result.error!.exception_message, /unknown node type "Missing"/);
      assert.match(result.error!.exception_message, /the expansion gives 0 outputs for 1 declared/);
    });

    it('keys sub-graphs so that ids and types holding the key\'s separators cannot collide', async () => {
      const { expansionKey } = await import('../engine/expansion-plans.ts');
      const expansion = (id: string, type: string) => ({ kind: 'expansion' as const, nodes: new Map([[id, { type, inputs: {} }]]), outputs: [], progress: [], transient: false });
      const type = () => 'INT';
      assert.notEqual(expansionKey('p.', 'p', expansion('1\u0002Inc', 'X'), type), expansionKey('p.', 'p', expansion('1', 'Inc\u0002X'), type));
    });
  });
});
