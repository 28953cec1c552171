import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResultCache } from '../engine/index.ts';
import { chain, makeEngine, workflow } from './helpers.ts';

const threeStep = (value: number, by = 1) => workflow({
  1: { type: 'Const', inputs: { value } },
  2: { type: 'Inc', inputs: { x: ['1', 0], by } },
  3: { type: 'Inc', inputs: { x: ['2', 0] } },
  4: { type: 'Sink', inputs: { x: ['3', 0] } },
});

describe('result cache', () => {
  it('reuses every result of an unchanged workflow and still shows cached outputs', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    await engine.execute(threeStep(1));
    calls.length = 0;
    const result = await engine.execute(threeStep(1));
    assert.deepEqual(calls, []);
    assert.deepEqual(result.cached, ['1', '2', '3', '4']);
    assert.deepEqual(result.outputs, { 4: { value: [3] } });
  });

  it('misses when a literal changes', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    await engine.execute(threeStep(1));
    calls.length = 0;
    const result = await engine.execute(threeStep(2));
    assert.deepEqual(calls, ['1', '2', '3', '4']);
    assert.deepEqual(result.outputs, { 4: { value: [4] } });
  });

  it('re-runs only downstream of a change', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    await engine.execute(threeStep(1, 1));
    calls.length = 0;
    const result = await engine.execute(threeStep(1, 5));
    assert.deepEqual(calls, ['2', '3', '4']);
    assert.deepEqual(result.cached, ['1']);
  });

  it('shares results between different workflows with a common prefix, whatever the node ids', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    await engine.execute(threeStep(1));
    calls.length = 0;
    await engine.execute(workflow({
      a: { type: 'Const', inputs: { value: 1 } },
      b: { type: 'Inc', inputs: { x: ['a', 0], by: 1 } },
      c: { type: 'Add', inputs: { a: ['b', 0], b: ['b', 0] } },
      d: { type: 'Sink', inputs: { x: ['c', 0] } },
    }));
    assert.deepEqual(calls, ['c', 'd']);
  });

  it('re-runs a node when isChanged answers differently, and reuses it when not', async () => {
    const calls: string[] = [];
    const state = { stamp: 'mtime-1' as unknown };
    const engine = makeEngine(calls, { state });
    const wf = workflow({ 1: { type: 'Stamped', inputs: { value: 3 } }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } });
    await engine.execute(wf);
    calls.length = 0;
    await engine.execute(wf);
    assert.deepEqual(calls, []);
    state.stamp = 'mtime-2';
    await engine.execute(wf);
    assert.deepEqual(calls, ['1', '2']);
  });

  it('never reuses a cache: false node, nor anything downstream of it', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls);
    const wf = workflow({
      1: { type: 'Counter' }, 2: { type: 'Inc', inputs: { x: ['1', 0] } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } },
    });
    const first = await engine.execute(wf);
    const second = await engine.execute(wf);
    assert.deepEqual(calls, ['1', '2', '3', '1', '2', '3']);
    assert.deepEqual([first.outputs['3'], second.outputs['3']], [{ value: [2] }, { value: [3] }]);
  });

  it('gives an entry back (takeBack) only if it still holds those outputs and no run was handed it', () => {
    const cache = new ResultCache();
    const outputs = [1];
    cache.set('a', { outputs, bytes: 8 });
    assert.equal(cache.takeBack('a', [1]), false, 'other outputs under the same signature');
    assert.equal(cache.takeBack('a', outputs), true);
    assert.equal(cache.has('a'), false);
    assert.equal(cache.takeBack('a', outputs), false, 'gone already');
    cache.set('b', { outputs, bytes: 8 });
    cache.get('b');
    assert.equal(cache.takeBack('b', outputs), false, 'a run may hold what get returned');
    assert.equal(cache.has('b'), true);
  });

  it('evicts the least recently used results to stay within the byte budget', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls, { cache: { maxBytes: 1000 } });
    // Run the Blob alone (as a target), so no cached output node covers it.
    const blob = (size: number) => engine.execute(workflow({ 1: { type: 'Blob', inputs: { size } } }), { targets: ['1'] });
    await blob(400);
    await blob(401);
    assert.equal(engine.cache.stats().bytes, 801);
    await blob(400); // now the most recently used; 401 is the least
    await blob(402); // 1203 bytes: evicts 401
    assert.equal(engine.cache.stats().bytes, 802);
    assert.equal(engine.cache.stats().evictions, 1);
    calls.length = 0;
    await blob(400);
    await blob(402);
    assert.deepEqual(calls, []);
    await blob(401);
    assert.deepEqual(calls, ['1']);
  });

  it('does not cache a result larger than the whole budget, and the run still succeeds', async () => {
    const calls: string[] = [];
    const engine = makeEngine(calls, { cache: { maxBytes: 1000 } });
    const wf = workflow({ 1: { type: 'Blob', inputs: { size: 5000 } }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } });
    const result = await engine.execute(wf);
    assert.deepEqual(result.outputs['2'], { value: [{ size: 5000 }] });
    calls.length = 0;
    await engine.execute(wf, { targets: ['1'] });
    assert.deepEqual(calls, ['1']);
  });

  it('keeps a running execution intact when its earlier results are evicted', async () => {
    const engine = makeEngine([], { cache: { maxEntries: 3 } });
    const result = await engine.execute(chain(50));
    assert.deepEqual(result.outputs.sink, { value: [50] });
    assert.equal(engine.cache.stats().entries, 3);
  });

  it('bounds the entry count, dropping the oldest first', () => {
    const cache = new ResultCache({ maxBytes: 1e9, maxEntries: 2 });
    cache.set('a', { outputs: [1], bytes: 1 });
    cache.set('b', { outputs: [2], bytes: 1 });
    cache.get('a'); // a is now the most recently used
    cache.set('c', { outputs: [3], bytes: 1 });
    assert.deepEqual([cache.has('a'), cache.has('b'), cache.has('c')], [true, false, true]);
    assert.deepEqual(cache.stats().bytes, 2);
  });
});
