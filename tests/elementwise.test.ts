import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { add, channelsLast3, div, elementwise, mul, pmax, pmin, sub } from '../engine/elementwise.ts';
import { newArray, recycle } from '../engine/scratch.ts';

const f32 = Math.fround;

/** Random float32 values with the awkward ones mixed in. */
function values(n: number, seed: number): Float32Array {
  const special = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40, 3.4e38, -3.4e38, 1, -1, 0.5];
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  return Float32Array.from({ length: n }, (_, i) => (i % 7 === 3 ? special[i % special.length] : (rand() - 0.5) * 10 ** (rand() * 8 - 4)));
}

/** Bitwise equality (NaN equals NaN, 0 and −0 differ), with the first difference in the message. */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    const bothNaN = Number.isNaN(actual[i]) && Number.isNaN(expected[i]);
    if (!bothNaN && a[i] !== e[i]) assert.fail(`${what}[${i}]: ${actual[i]} but expected ${expected[i]}`);
  }
}

const LENGTHS = [0, 1, 3, 4, 5, 17, 1000, 65_537];

describe('element-wise WebAssembly SIMD kernels', () => {
  const ops = { add, sub, mul, div, pmin, pmax };
  const scalar: Record<keyof typeof ops, (a: number, b: number) => number> = {
    add: (a, b) => f32(a + b),
    sub: (a, b) => f32(a - b),
    mul: (a, b) => f32(a * b),
    div: (a, b) => f32(a / b),
    pmin: (a, b) => (b < a ? b : a),
    pmax: (a, b) => (a < b ? b : a),
  };

  for (const [name, op] of Object.entries(ops) as [keyof typeof ops, typeof add][]) {
    it(`${name} is the float32 operation, bit for bit, at every length`, () => {
      const kernel = elementwise({ name, inputs: ['a', 'b'] }, ({ a, b }) => [op(a, b)]);
      for (const n of LENGTHS) {
        const a = values(n, n + 1);
        const b = values(n, n + 2).reverse();
        assertSameBits(kernel.run([a, b])[0], a.map((x, i) => scalar[name](x, b[i])), `${name} n=${n}`);
      }
    });
  }

  it('scalars and constants are rounded to float32 like Math.fround', () => {
    const kernel = elementwise({ name: 'axpb', inputs: ['x'], scalars: ['a'] }, ({ x, a }) => [add(mul(a, x), 0.1)]);
    const x = values(33, 7);
    const a = 1 / 3;
    assertSameBits(kernel.run([x], [a])[0], x.map((v) => f32(f32(f32(a) * v) + f32(0.1))), 'a·x + 0.1');
  });

  it('several outputs sharing a sub-expression (the fused DPM-Solver++ step)', () => {
    const kernel = elementwise({ name: 'shared', inputs: ['x', 'v', 'm'], scalars: ['s', 'a', 'b'] }, ({ x, v, m, s, a, b }) => {
      const x0 = sub(x, mul(s, v));
      return [x0, sub(sub(mul(a, x), mul(b, x0)), mul(0.5, sub(x0, m)))];
    });
    const [x, v, m] = [values(101, 1), values(101, 2), values(101, 3)];
    const [s, a, b] = [0.7, 0.9, -0.2];
    const x0 = x.map((xi, i) => f32(xi - f32(f32(s) * v[i])));
    const out = x.map((xi, i) => f32(f32(f32(f32(a) * xi) - f32(f32(b) * x0[i])) - f32(0.5 * f32(x0[i] - m[i]))));
    const [gotX0, gotOut] = kernel.run([x, v, m], [s, a, b]);
    assertSameBits(gotX0, x0, 'x0');
    assertSameBits(gotOut, out, 'update');
  });

  it('inputs are not modified and results do not alias kernel memory', () => {
    const kernel = elementwise({ name: 'neg', inputs: ['x'] }, ({ x }) => [sub(0, x)]);
    const x = values(64, 9);
    const copy = Float32Array.from(x);
    const first = kernel.run([x])[0];
    const snapshot = Float32Array.from(first);
    kernel.run([values(64, 10)]); // reuses the same memory
    assertSameBits(x, copy, 'input');
    assertSameBits(first, snapshot, 'earlier result');
  });

  it('grows its memory for large arrays', () => {
    const kernel = elementwise({ name: 'double', inputs: ['x'] }, ({ x }) => [add(x, x)]);
    const x = values(6_000_000, 4);
    const [y] = kernel.run([x]);
    assert.equal(y[5_999_999], f32(x[5_999_999] * 2));
    assert.equal(y[1234567], f32(x[1234567] * 2));
  });

  it('reports inputs of different lengths and wrong argument counts', () => {
    const kernel = elementwise({ name: 'pair', inputs: ['a', 'b'], scalars: ['s'] }, ({ a, b, s }) => [mul(s, add(a, b))]);
    assert.throws(() => kernel.run([new Float32Array(4), new Float32Array(5)], [1]), /pair: inputs of different lengths \(4 and 5\)/);
    assert.throws(() => kernel.run([new Float32Array(4)], [1]), /pair takes 2 arrays and 1 scalars, got 1 and 1/);
    assert.throws(() => kernel.run([new Float32Array(4), new Float32Array(4)]), /got 2 and 0/);
  });

  it('reads earlier outputs where they are, and never a stale copy', () => {
    // Outputs stay resident in WebAssembly memory for the next two calls; each result here is
    // checked against scalar arithmetic on what the arrays hold at the time of the call.
    const double = elementwise({ name: 'double', inputs: ['x'] }, ({ x }) => [mul(x, 2)]);
    const axpy = elementwise({ name: 'axpy', inputs: ['x', 'y'], scalars: ['a'] }, ({ x, y, a }) => [add(mul(a, x), y)]);
    const denorm = channelsLast3('denorm', (x) => add(x, 1));
    const expectAxpy = (a: number, x: Float32Array, y: Float32Array) => x.map((v, i) => f32(f32(a * v) + y[i]));
    const n = 1000;
    const x = values(n, 11);
    const y = values(n, 12);
    const [d1] = double.run([x]);
    assertSameBits(d1, x.map((v) => f32(v * 2)), 'first call');
    const [d2] = double.run([d1]); // d1 resident from the previous call
    assertSameBits(d2, d1.map((v) => f32(v * 2)), 'one call later');
    const [s1] = axpy.run([d1, d2], [0.5]); // d1 two calls back, d2 one
    assertSameBits(s1, expectAxpy(0.5, d1, d2), 'two calls later');
    // d1's arena is reused now: x and y are copied in over where d1 was, so d1 must be copied too.
    const sum3 = elementwise({ name: 'sum3', inputs: ['a', 'b', 'c'] }, ({ a, b, c }) => [add(add(a, b), c)]);
    const [s2] = sum3.run([x, y, d1]);
    assertSameBits(s2, x.map((v, i) => f32(f32(v + y[i]) + d1[i])), 'three calls later');

    // An output that goes back to the pool and out again holds new contents.
    recycle([s2]);
    const reused = newArray(n);
    assert.equal(reused, s2, 'the pool hands the same array out again');
    reused.set(y);
    const [s3] = axpy.run([reused, x], [2]);
    assertSameBits(s3, expectAxpy(2, y, x), 'the new contents, not the resident copy');

    // A channels-last pass uses the memory from the start: nothing resident survives it.
    const [s4] = double.run([x]);
    denorm.run(values(3 * 300_000, 13), new Float32Array(3 * 300_000));
    const [s5] = axpy.run([s4, s3], [1]);
    assertSameBits(s5, expectAxpy(1, s4, s3), 'after a channels-last pass');
  });

  it('channelsLast3 maps three planes and interleaves them, at any plane size', () => {
    const kernel = channelsLast3('denorm', (x) => pmin(pmax(add(mul(x, 0.5), 0.5), 0), 1));
    for (const plane of [1, 2, 4, 5, 7, 64, 1023, 16384, 40001]) { // 16384: one whole chunk; 40001: three, the last short
      const planes = values(3 * plane, plane);
      const expected = new Float32Array(3 * plane);
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) {
          const v = f32(f32(planes[c * plane + p] * 0.5) + 0.5);
          expected[p * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
      assertSameBits(kernel.run(planes, new Float32Array(planes.length)), expected, `plane ${plane}`);
      const inPlace = planes.slice();
      assert.equal(kernel.run(inPlace, inPlace), inPlace, 'writes into the given output');
      assertSameBits(inPlace, expected, `plane ${plane}, in place`);
    }
    assert.throws(() => kernel.run(new Float32Array(4), new Float32Array(4)), /needs 3 planes of equal size, got 4 elements/);
    assert.throws(() => kernel.run(new Float32Array(6), new Float32Array(3)), /the output has 3 elements for 6/);
  });
});
