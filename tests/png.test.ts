import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { decode } from 'fast-png';
import { adler32, encodePng, tableCrc32 } from '../nodes/png.ts';
import { subFilterRows } from '../engine/wasm/convert-kernels.ts';
import { workflowFromPng } from '../engine/workflow-png.ts';

const pixels = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + (i >> 7)) & 0xff);

describe('encodePng', () => {
  it('writes grey, RGB and RGBA images that a PNG decoder reads back exactly', async () => {
    for (const channels of [1, 3, 4] as const) {
      const [width, height] = [37, 23];
      const data = pixels(width * height * channels);
      const png = decode(await encodePng({ width, height, channels, data }, 4));
      assert.deepEqual([png.width, png.height, png.channels, png.depth], [width, height, channels, 8]);
      assert.deepEqual(Array.from(png.data), Array.from(data), `${channels} channels`);
    }
  });

  it('writes Latin-1 text as tEXt and other text as UTF-8 iTXt (a prompt in Chinese or with an emoji)', async () => {
    const data = pixels(4 * 4 * 3);
    const latin = await encodePng({ width: 4, height: 4, channels: 3, data, text: { workflow: '{"a":"café"}', other: 'x' } }, 1);
    assert.deepEqual(decode(latin).text, { workflow: '{"a":"café"}', other: 'x' });
    const wide = { nodes: { 2: { inputs: { text: '富士山 🗻' } } } };
    const png = await encodePng({ width: 4, height: 4, channels: 3, data, text: { workflow: JSON.stringify(wide) } }, 1);
    assert.ok(png.includes(Buffer.from('iTXtworkflow\0\0\0\0\0')), 'an uncompressed iTXt chunk');
    assert.deepEqual(workflowFromPng(png), wide, 'the editor reads it back');
    assert.deepEqual(Array.from(decode(png).data), Array.from(data));
  });

  it('compresses a large image in bands into one valid zlib stream (inflate checks the Adler-32)', async () => {
    const [width, height] = [1024, 1000]; // 3 MB of rows: several bands
    let state = 7;
    const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i % 3072) / 12 + ((state = (state * 1103515245 + 12345) >>> 0) >>> 30));
    const png = await encodePng({ width, height, channels: 3, data }, 4);
    assert.deepEqual(Array.from(decode(png).data), Array.from(data));
    // The IDAT chunk alone, through zlib, which rejects a wrong header or check value.
    const at = png.indexOf('IDAT');
    const idat = png.subarray(at + 4, at + 4 + png.readUInt32BE(at - 4));
    const rows = zlib.inflateSync(idat);
    assert.equal(rows.length, (width * 3 + 1) * height);
    assert.ok(idat.length < data.length * 0.5, `Sub-filtered smooth rows compress (${idat.length} bytes)`);
  });

  it('filters rows with Sub as the PNG spec says, rows of any width, over several kernel calls', () => {
    for (const [stride, height, lag] of [[37 * 3, 5, 3], [5001 * 4, 130, 4], [7, 3, 1], [16, 2, 3]]) {
      const data = pixels(stride * height);
      const out = subFilterRows(data, stride, height, lag, new Uint8Array((stride + 1) * height).fill(7));
      for (let y = 0; y < height; y++) {
        assert.equal(out[y * (stride + 1)], 1, 'filter type Sub');
        for (let x = 0; x < stride; x++) {
          const raw = data[y * stride + x];
          const left = x >= lag ? data[y * stride + x - lag] : 0;
          if (out[y * (stride + 1) + 1 + x] !== ((raw - left) & 0xff)) assert.fail(`stride ${stride}, row ${y}, byte ${x}`);
        }
      }
    }
  });

  it('computes Adler-32 as zlib does', () => {
    assert.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398);
    const long = pixels(100_000).map((v) => 255 - (v & 1)); // near-maximal bytes: the sums must be reduced in time
    const viaZlib = zlib.deflateSync(long, { level: 0 });
    assert.equal(adler32(long), viaZlib.readUInt32BE(viaZlib.length - 4));
  });

  it('checks the pixel count', async () => {
    await assert.rejects(encodePng({ width: 4, height: 4, channels: 3, data: new Uint8Array(47) }, 1), /a 4×4 image with 3 channels needs 48 bytes, got 47/);
  });

  it('computes the PNG CRC-32 without zlib.crc32 (Node before 20.15) as zlib does', () => {
    assert.equal(tableCrc32(Buffer.from('IEND')), 0xae426082);
    const data = pixels(10_000);
    const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    if (native) assert.equal(tableCrc32(data), native(data));
    assert.equal(tableCrc32(new Uint8Array(0)), 0);
  });
});
