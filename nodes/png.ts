import { promisify } from 'node:util';
import zlib from 'node:zlib';

/**
 * An 8-bit PNG encoder (PNG spec, https://www.w3.org/TR/png/): every row with filter 0 (none),
 * one IDAT chunk compressed by Node's zlib on the libuv thread pool, so the thread that saves an
 * image is not blocked while it compresses, and the JS heap sees one buffer instead of an
 * encoder's many (fast-png's pure-JS deflate took ~45 ms of a tiny run's engine thread for a
 * 512² image and drove a full garbage collection most runs).
 *
 * Text chunks as Pillow (and so ComfyUI) writes them: tEXt when the text is Latin-1, else iTXt
 * with uncompressed UTF-8 (a prompt in Chinese or with an emoji).
 */
const deflate = promisify(zlib.deflate);

export interface PngImage {
  width: number;
  height: number;
  /** 1 grey, 3 RGB, 4 RGBA */
  channels: 1 | 3 | 4;
  /** Rows top to bottom, channels interleaved, one byte per sample. */
  data: Uint8Array;
  text?: Record<string, string>;
}

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

export async function encodePng(image: PngImage, level: number): Promise<Buffer> {
  const { width, height, channels, data } = image;
  const stride = width * channels;
  if (data.length !== stride * height) {
    throw new Error(`a ${width}×${height} image with ${channels} channels needs ${stride * height} bytes, got ${data.length}`);
  }
  const rows = Buffer.alloc((stride + 1) * height); // each row: filter byte 0, then the samples
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, COLOR_TYPE[channels], 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    ...Object.entries(image.text ?? {}).map(([keyword, text]) => textChunk(keyword, text)),
    chunk('IDAT', await deflate(rows, { level })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const isLatin1 = (text: string) => /^[\u0000-\u00ff]*$/.test(text);

function textChunk(keyword: string, text: string): Buffer {
  if (isLatin1(text)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

// zlib.crc32 is native from Node 20.15; earlier 20.x use the table version (the PNG CRC is zlib's CRC-32).
const nativeCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
const crc32 = nativeCrc ?? tableCrc32;
let table: Uint32Array | undefined;

export function tableCrc32(data: Uint8Array): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
