import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { decode } from 'fast-png';
import { encodePng, tableCrc32 } from '../nodes/png.ts';
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
