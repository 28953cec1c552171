import { createHash } from 'node:crypto';
import { constants, openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';
import multer from 'multer';
import { HttpError } from './http-errors.ts';
import { checkFileName, directoryInside } from './paths.ts';

/**
 * `POST /upload/image`: one image (PNG, JPEG or WebP, judged by its bytes, not its name),
 * limited in size, written into the input/temp/output folder without overwriting unless asked.
 * As ComfyUI: an existing file with the same name and the same bytes is reused; a different one
 * gets a free name `name (1).png`.
 */
export type ImageKind = 'png' | 'jpeg' | 'webp';

const EXTENSIONS: Record<ImageKind, string[]> = { png: ['.png'], jpeg: ['.jpg', '.jpeg'], webp: ['.webp'] };

/** The image format from the first bytes (magic numbers), or undefined for anything else. */
export function sniffImage(bytes: Uint8Array): ImageKind | undefined {
  const starts = (sig: number[], at = 0) => sig.every((b, i) => bytes[at + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (starts([0xff, 0xd8, 0xff])) return 'jpeg';
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  return undefined;
}

/**
 * multer for one file field `image`, kept in memory (it is checked before it is written).
 * Its errors are the client's: a malformed multipart body is a 400, too large a 413.
 */
export function uploadParser(maxBytes: number): RequestHandler {
  const parse = multer({
    storage: multer.memoryStorage(),
    // Keep the client's name whole (busboy would cut it to its base name) so that a name with
    // a path in it is refused rather than silently changed.
    preservePath: true,
    limits: { fileSize: maxBytes, files: 1, fields: 8, fieldSize: 4096, parts: 12, headerPairs: 50 },
  }).single('image');
  return (req, res, next) => parse(req, res, (err?: unknown) => {
    if (!err || (err as Error).name === 'MulterError') next(err);
    else next(new HttpError(400, 'bad_upload', `malformed multipart body: ${(err as Error).message}`));
  });
}

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest('hex');

/** Creates the file with O_EXCL (never replaces) or O_TRUNC, and never through a symlink. */
function writeNew(file: string, data: Uint8Array, overwrite: boolean): boolean {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (overwrite ? constants.O_TRUNC : constants.O_EXCL);
  let fd: number;
  try {
    fd = openSync(file, flags, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'ELOOP') throw new HttpError(403, 'forbidden_path', 'the target file is a symlink');
    throw e;
  }
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  return true;
}

function sameBytes(file: string, digest: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    return sha1(readFileSync(fd)) === digest;
  } finally {
    closeSync(fd);
  }
}

/** Stores an uploaded image; returns the name it got. */
export function saveUpload(root: string, subfolder: string, originalName: string, data: Uint8Array, overwrite: boolean): string {
  const name = checkFileName(originalName);
  const kind = sniffImage(data);
  if (!kind) throw new HttpError(415, 'unsupported_media_type', 'only PNG, JPEG and WebP images can be uploaded (judged by the file\'s content)');
  const ext = path.extname(name).toLowerCase();
  if (!EXTENSIONS[kind].includes(ext)) {
    throw new HttpError(400, 'bad_upload', `the file is a ${kind.toUpperCase()} image but is named "${name}": use ${EXTENSIONS[kind].join(' or ')}`);
  }
  const dir = directoryInside(root, subfolder);
  if (overwrite) {
    writeNew(path.join(dir, name), data, true);
    return name;
  }
  const digest = sha1(data);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; i < 10_000; i++) {
    const candidate = i === 0 ? name : `${stem} (${i})${ext}`;
    const file = path.join(dir, candidate);
    if (writeNew(file, data, false)) return candidate;
    if (sameBytes(file, digest)) return candidate;
  }
  throw new HttpError(409, 'conflict', `too many files named like "${name}"`);
}
