import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { randn, TorchGenerator, type NormalKernel } from '../engine/torch-random.ts';

interface Call { shape: number[]; values: number[] }
interface Case { name: string; seed: string; calls: Call[] }
interface Fixture { torch: string; kernels: Record<NormalKernel, { capability: string; cases: Case[] }> }

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/torch-randn.json', import.meta.url), 'utf8'),
) as Fixture;

const TOLERANCE = 1e-6;

function maxAbsDiff(actual: Float32Array, expected: readonly number[]): { diff: number; at: number } {
  assert.equal(actual.length, expected.length, 'length');
  let diff = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN must fail too, so compare with !(d <= diff) rather than d > diff.
    if (!(d <= diff)) { diff = d; at = i; }
  }
  return { diff, at };
}

function checkCase(kernel: NormalKernel, c: Case): void {
  const generator = new TorchGenerator(BigInt(c.seed), { kernel });
  c.calls.forEach((call, n) => {
    const count = call.shape.reduce((a, b) => a * b, 1);
    const { diff, at } = maxAbsDiff(generator.randn(count), call.values);
    assert.ok(diff <= TOLERANCE,
      `${kernel} ${c.name}, call ${n + 1} ${JSON.stringify(call.shape)}: max abs diff ${diff} at index ${at}`);
  });
}

for (const kernel of ['avx2', 'scalar'] as const) {
  for (const c of fixture.kernels[kernel].cases) {
    test(`torch ${fixture.torch} ${fixture.kernels[kernel].capability}: randn ${c.name}`, () => checkCase(kernel, c));
  }
}

test('the AVX2 kernel is bit-exact, not just within tolerance', () => {
  // 9 significant digits identify a float32 uniquely, so fround(expected) is torch's exact value.
  // This catches what 1e-6 cannot: libm instead of the Cephes polynomials, or unfused FMAs.
  let values = 0;
  const mismatches: string[] = [];
  for (const c of fixture.kernels.avx2.cases) {
    const generator = new TorchGenerator(BigInt(c.seed));
    for (const call of c.calls) {
      const actual = generator.randn(call.values.length);
      call.values.forEach((v, i) => {
        values++;
        if (actual[i] !== Math.fround(v)) mismatches.push(`${c.name}[${i}]: ${actual[i]} vs ${v}`);
      });
    }
  }
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${values} differ, e.g. ${mismatches.slice(0, 3).join('; ')}`);
});

test('the fixture covers both code paths, odd sizes and consecutive calls', () => {
  const counts = fixture.kernels.avx2.cases.flatMap((c) => c.calls.map((k) => k.values.length));
  assert.ok(counts.some((n) => n < 16) && counts.some((n) => n >= 16 && n % 16 === 0));
  assert.ok(counts.some((n) => n > 16 && n % 16 !== 0));
  assert.ok(fixture.kernels.avx2.cases.some((c) => c.calls.length > 1));
});

test('mt19937 seeded with 5489 gives the reference sequence', () => {
  // The first outputs of the reference mt19937 (Matsumoto & Nishimura) for its default seed.
  const expected = [3499211612, 581869302, 3890346734, 3586334585, 545404204, 4161255391, 3922919429, 949333985];
  const generator = new TorchGenerator(5489);
  assert.deepEqual(expected.map(() => generator.random()), expected);
});

test('the 10000th mt19937 output for seed 5489 is 4123659995 (C++ std::mt19937 check value)', () => {
  const generator = new TorchGenerator(5489);
  for (let i = 1; i < 10000; i++) generator.random();
  assert.equal(generator.random(), 4123659995);
});

test('random64 joins two outputs high word first', () => {
  const a = new TorchGenerator(123);
  const b = new TorchGenerator(123);
  const hi = BigInt(b.random());
  const lo = BigInt(b.random());
  assert.equal(a.random64(), (hi << 32n) | lo);
});

test('different seeds give different noise; the same seed the same noise', () => {
  const a = randn([64], 1);
  const b = randn([64], 2);
  assert.notDeepEqual(a, b);
  assert.deepEqual(randn([64], 1), a);
  assert.notDeepEqual(randn([8], 1), randn([8], 2));
});

test('only the low 32 bits of the seed reach mt19937, as in torch', () => {
  assert.deepEqual(randn([20], 2n ** 32n + 5n), randn([20], 5));
  assert.equal(new TorchGenerator(2n ** 32n + 5n).initialSeed, 2n ** 32n + 5n);
});

test('the noise looks standard normal', () => {
  const values = randn([32, 32, 32], 156680208700286);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.03, `variance ${variance}`);
});

test('bad seeds and counts are refused', () => {
  assert.throws(() => new TorchGenerator(-1), RangeError);
  assert.throws(() => new TorchGenerator(2n ** 64n), RangeError);
  assert.throws(() => new TorchGenerator(2 ** 60), RangeError);
  assert.throws(() => new TorchGenerator(1.5), RangeError);
  assert.throws(() => new TorchGenerator(0).randn(-1), RangeError);
});

test('a 1024x1024 Sana latent (32x32x32) takes well under 10 ms', () => {
  randn([32, 32, 32], 0); // warm up the JIT
  // Best of several runs, so a busy machine does not fail the test by itself.
  let ms = Infinity;
  for (let seed = 0; seed < 5; seed++) {
    const start = performance.now();
    randn([32, 32, 32], seed);
    ms = Math.min(ms, performance.now() - start);
  }
  assert.ok(ms < 10, `${ms.toFixed(2)} ms per latent`);
});
