import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { subFilterRows } from '../engine/wasm/convert-kernels.ts';

/**
 * An 8-bit PNG encoder (PNG spec, https://www.w3.org/TR/png/), made for generated images at
 * 1–4 megapixels, where compression is most of the time a save takes:
 * - every row uses filter 1 (Sub: each byte minus the same channel of the pixel to its left).
 *   On photographic and generated content this is what makes deflate's job easy;
 * - deflate runs with zlib's run-length strategy (Z_RLE: matches at distance one pixel only),
 *   which on Sub-filtered rows compresses about as well as level 4's full match search
 *   (within a few per cent either way) at a quarter of its time on noisy images;
 * - large images are compressed in bands on the libuv thread pool at once: each band is a raw
 *   deflate stream ending on a byte boundary (a sync flush), the bands are concatenated, and the
 *   zlib stream's Adler-32 is computed here while they compress (RFC 1950/1951). Bands do not
 *   share history, which costs nothing with Z_RLE (it only looks one pixel back).
 *
 * Text chunks as Pillow (and so ComfyUI) writes them: tEXt when the text is Latin-1, else iTXt
 * with uncompressed UTF-8 (a prompt in Chinese or with an emoji).
 */
const deflateRaw = promisify(zlib.deflateRaw);

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
/** Rows of at least this many bytes in all go to several threads (below, one call is quicker). */
const BAND_BYTES = 1 << 20;

/** `level` is zlib's 1–9 (Z_RLE makes levels matter little; kept for the file header). */
export async function encodePng(image: PngImage, level: number): Promise<Buffer> {
  const { width, height, channels, data } = image;
  const stride = width * channels;
  if (data.length !== stride * height) {
    throw new Error(`a ${width}×${height} image with ${channels} channels needs ${stride * height} bytes, got ${data.length}`);
  }
  const rows = takeRows((stride + 1) * height);
  try {
    subFilterRows(data, stride, height, channels, rows);
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header.set([8, COLOR_TYPE[channels], 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace
    const idat = await zlibStream(rows, stride + 1, level);
    return assemble([
      ['IHDR', [header]],
      ...Object.entries(image.text ?? {}).map(([keyword, text]) => textChunk(keyword, text)),
      ['IDAT', idat],
      ['IEND', []],
    ]);
  } finally {
    spareRows = rows; // the next image of this size reuses it (fresh memory costs a page fault per 4 KiB)
  }
}

let spareRows: Buffer | undefined;
function takeRows(length: number): Buffer {
  const spare = spareRows;
  spareRows = undefined;
  return spare?.length === length ? spare : Buffer.allocUnsafe(length);
}

/** A zlib stream (RFC 1950) of `bytes` in parts: header, raw deflate bands, Adler-32. */
async function zlibStream(bytes: Buffer, rowBytes: number, level: number): Promise<Uint8Array[]> {
  const bands = Math.max(1, Math.min(4, Math.floor(bytes.length / BAND_BYTES)));
  const rowsPerBand = Math.ceil(bytes.length / rowBytes / bands);
  const parts: Promise<Buffer>[] = [];
  for (let start = 0; start < bytes.length; start += rowsPerBand * rowBytes) {
    const end = Math.min(bytes.length, start + rowsPerBand * rowBytes);
    const finishFlush = end === bytes.length ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH;
    // One output buffer of about the band's size: zlib's default 16 KiB chunks are concatenated after.
    const chunkSize = Math.max(zlib.constants.Z_MIN_CHUNK, Math.min(end - start + 1024, 1 << 22));
    parts.push(deflateRaw(bytes.subarray(start, end), { level, strategy: zlib.constants.Z_RLE, finishFlush, chunkSize }));
  }
  const check = Buffer.alloc(4);
  check.writeUInt32BE(adler32(bytes), 0); // while the bands compress on the thread pool
  // CMF 0x78: deflate with a 32 KiB window; FLG: the level class (RFC 1950 FLEVEL) and the check bits.
  const flevel = level < 2 ? 0 : level < 6 ? 1 : level === 6 ? 2 : 3;
  const cmf = 0x78;
  let flg = flevel << 6;
  flg += (31 - ((cmf * 256 + flg) % 31)) % 31;
  return [Uint8Array.of(cmf, flg), ...(await Promise.all(parts)), check];
}

/** The PNG file in one buffer: the signature, then each chunk (length, type, data parts, CRC of type and data). */
function assemble(chunks: [type: string, parts: Uint8Array[]][]): Buffer {
  const size = (parts: Uint8Array[]) => parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.allocUnsafe(SIGNATURE.length + chunks.reduce((n, [, parts]) => n + 12 + size(parts), 0));
  out.set(SIGNATURE, 0);
  let at = SIGNATURE.length;
  for (const [type, parts] of chunks) {
    const start = at;
    out.writeUInt32BE(size(parts), at);
    out.write(type, at + 4, 'latin1');
    at += 8;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    out.writeUInt32BE(crc32(out.subarray(start + 4, at)), at);
    at += 4;
  }
  return out;
}

/** RFC 1950's Adler-32, reduced every 5552 bytes as zlib does (the sums stay below 2^32: small integers for V8). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const isLatin1 = (text: string) => /^[\u0000-\u00ff]*$/.test(text);

function textChunk(keyword: string, text: string): [string, Uint8Array[]] {
  if (isLatin1(text)) return ['tEXt', [Buffer.from(keyword, 'latin1'), Uint8Array.of(0), Buffer.from(text, 'latin1')]];
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text
  return ['iTXt', [Buffer.from(keyword, 'latin1'), Uint8Array.of(0, 0, 0, 0, 0), Buffer.from(text, 'utf8')]];
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
