import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { asFloat32, castTo, float32, floatsToBytes, floatsToHalves, fromHalfBits, halvesToFloats, tensor, toHalfBits } from '../engine/tensor.ts';
import { parseNpy, parseSafetensors, serializeNpy, serializeSafetensors } from '../engine/tensor-files.ts';

describe('tensors', () => {
  it('checks that data fits dims and dtype', () => {
    assert.throws(() => tensor('float32', [2, 3], new Float32Array(5)), /dims \[2, 3\] needs 6 values, got 5/);
    assert.throws(() => tensor('int64', [1], new Float32Array(1)), /int64 tensor data must be a BigInt64Array/);
  });

  it('converts float32 to half bits as numpy does (round to nearest even, subnormals, overflow)', () => {
    // Expected bits from numpy: np.float16(x).view(np.uint16)
    assert.equal(toHalfBits(1e-4), 1678);
    assert.equal(toHalfBits(0.1), 11878);
    assert.equal(toHalfBits(65519), 31743); // rounds down to 65504, not up to inf
    assert.equal(toHalfBits(65520), 0x7c00); // ties to even → inf
    assert.equal(toHalfBits(2 ** -25 * 1.5), 1);
    assert.equal(toHalfBits(-3.14159), 49736);
    for (const v of [0, -0.5, 1, 2.5, 1024, -65504, 2 ** -24]) assert.equal(fromHalfBits(toHalfBits(v)), v);
    assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  });

  it('converts arrays to and from half bits exactly as the per-value functions do', () => {
    // Every float32 bit pattern whose half result is subnormal, normal near the boundaries, or
    // overflows, plus a stride through all the others (both signs, NaN and ±inf among them).
    const ranges: [number, number, number][] = [[0x33000000, 0x38a00000, 1], [0x477fe000, 0x47802000, 1], [0, 2 ** 32, 4099]];
    for (const [lo, hi, step] of ranges) {
      const bits = Uint32Array.from({ length: Math.ceil((hi - lo) / step) }, (_, i) => lo + i * step);
      for (const sign of [0, 0x80000000]) {
        const values = new Float32Array(bits.map((b) => (b | sign) >>> 0).buffer);
        const halves = floatsToHalves(values, new Uint16Array(values.length));
        for (let i = 0; i < values.length; i++) {
          if (halves[i] !== toHalfBits(values[i])) assert.fail(`0x${((bits[i] | sign) >>> 0).toString(16)}: ${halves[i]} vs ${toHalfBits(values[i])}`);
        }
      }
    }
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
    const floats = halvesToFloats(all, new Float32Array(65536));
    for (let h = 0; h < 65536; h++) assert.ok(Object.is(floats[h], fromHalfBits(h)) || (Number.isNaN(floats[h]) && Number.isNaN(fromHalfBits(h))), `half ${h}`);
  });

  it('makes 8-bit values as numpy\'s (x * 255).round() in float32, clamped, ties to even', () => {
    // Every float32 from just below 0 to just above 1 in steps of 2⁻¹⁸, the exact ties k + 0.5, and specials.
    const values = [...Array.from({ length: (1 << 18) + 64 }, (_, i) => (i - 32) / (1 << 18)), ...Array.from({ length: 256 }, (_, k) => (k + 0.5) / 255), -3, 7, NaN, Infinity, -Infinity];
    const src = Float32Array.from(values);
    const bytes = floatsToBytes(src, 255, new Uint8Array(src.length));
    for (let i = 0; i < src.length; i++) {
      const v = Math.fround(src[i] * 255);
      let r = Math.round(v);
      if (r - v === 0.5 && r % 2 !== 0) r--; // Math.round rounds ties up; numpy to even
      const expected = Number.isNaN(v) ? 0 : Math.min(255, Math.max(0, r));
      if (bytes[i] !== expected) assert.fail(`${src[i]}: ${bytes[i]}, expected ${expected}`);
    }
  });

  it('casts to the dtype a model input declares', () => {
    const t = float32([3], Float32Array.of(1.4, -2.6, 0));
    assert.deepEqual([...castTo(t, 'int64').data], [1n, -3n, 0n]);
    assert.deepEqual([...castTo(t, 'int32').data], [1, -3, 0]);
    assert.deepEqual([...castTo(t, 'bool').data], [1, 1, 0]);
    assert.deepEqual([...asFloat32(castTo(t, 'float16')).data].map((v) => Number(v.toFixed(3))), [1.4, -2.6, 0]);
  });
});

describe('tensor files', () => {
  it('reads .npy files written by numpy', () => {
    const f = parseNpy(readFileSync('tests/fixtures/numpy-f32.npy'));
    assert.deepEqual([f.dtype, f.dims], ['float32', [2, 3, 4]]);
    assert.deepEqual([...f.data].slice(0, 3), [0, 0.125, 0.25]);
    const i = parseNpy(readFileSync('tests/fixtures/numpy-i64.npy'));
    assert.deepEqual([i.dtype, i.dims, [...i.data]], ['int64', [3], [3n, -1n, 7n]]);
    const h = asFloat32(parseNpy(readFileSync('tests/fixtures/numpy-f16.npy')));
    assert.deepEqual([...h.data], [0.5, -2, 65504, Math.fround(fromHalfBits(1678))]);
    assert.throws(() => parseNpy(readFileSync('tests/fixtures/numpy-fortran.npy'), 'f.npy'), /f\.npy: Fortran-ordered arrays are not supported/);
    assert.throws(() => parseNpy(new Uint8Array(20), 'x.npy'), /x\.npy: not a \.npy file/);
  });

  it('writes .npy files that read back identically, with a 64-byte aligned header', () => {
    const t = tensor('float32', [2, 2], Float32Array.of(1, 2, 3, 4));
    const bytes = serializeNpy(t);
    const headerEnd = bytes.indexOf(0x0a) + 1;
    assert.equal(headerEnd % 64, 0);
    assert.deepEqual(parseNpy(bytes), t);
  });

  it('round-trips safetensors, keeping dtypes, shapes and metadata', () => {
    const tensors = {
      latent: tensor('float32', [1, 2, 2], Float32Array.of(0.5, -1, 2, 3)),
      mask: tensor('int64', [1, 3], BigInt64Array.of(1n, 1n, 0n)),
      half: tensor('float16', [2], Uint16Array.of(toHalfBits(1.5), toHalfBits(-2))),
    };
    const bytes = serializeSafetensors(tensors, { note: 'hi' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + headerLength) % 8, 0, 'data starts 8-byte aligned');
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    assert.deepEqual(header.latent, { dtype: 'F32', shape: [1, 2, 2], data_offsets: [0, 16] });
    assert.deepEqual(header.__metadata__, { note: 'hi' });
    const back = parseSafetensors(bytes);
    assert.deepEqual(Object.fromEntries(back), tensors);
  });

  it('reads bf16 safetensors as float32 and explains broken files', () => {
    const json = JSON.stringify({ x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } });
    const bytes = new Uint8Array(8 + json.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(new TextEncoder().encode(json), 8);
    new DataView(bytes.buffer).setUint16(8 + json.length, 0x3fc0, true); // bf16 1.5
    new DataView(bytes.buffer).setUint16(8 + json.length + 2, 0xc000, true); // bf16 -2
    assert.deepEqual([...parseSafetensors(bytes).get('x')!.data], [1.5, -2]);
    assert.throws(() => parseSafetensors(new Uint8Array(4), 'c.safetensors'), /c\.safetensors: too short/);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 100n, true);
    assert.throws(() => parseSafetensors(bad, 'd.safetensors'), /header length 100 runs past the end/);
  });
});
