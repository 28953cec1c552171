import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withScratch } from '../engine/scratch.ts';

describe('withScratch', () => {
  it('rejects, never throws, when no array can be made', async () => {
    let pending: Promise<number> | undefined;
    assert.doesNotThrow(() => { pending = withScratch(-1, async () => 1); });
    await assert.rejects(pending!, RangeError);
  });

  it('lends overlapping calls different arrays and reuses an array once its call has settled', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let first!: Float32Array;
    let second!: Float32Array;
    const a = withScratch(1000, async (x) => { first = x; await gate; });
    const b = withScratch(1000, async (x) => { second = x; });
    await b;
    assert.notEqual(first, second, 'a lent array is not lent again before its call settles');
    release();
    await a;
    const again = await withScratch(1000, async (x) => x);
    assert.ok(again === first || again === second, 'a given-back array is lent again');
    assert.equal((await withScratch(999, async (x) => x)).length, 999);
  });

  it('takes the array back when the call fails', async () => {
    let lent!: Float32Array;
    await assert.rejects(withScratch(777, async (x) => { lent = x; throw new Error('boom'); }), /boom/);
    assert.equal(await withScratch(777, async (x) => x), lent);
  });
});
