import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * Safe resolution of client-given names inside a directory (`/view`, `/upload/image`, workflow
 * names). Names are checked as text first (no `..`, absolute paths, backslashes, drive letters,
 * NUL or control characters), then the real path (symlinks resolved) must still be inside the
 * directory's real path. Query strings arrive percent-decoded once and are never decoded again,
 * so an encoded separator (`%2F`) is an ordinary `/` by the time it is checked here.
 */
export class UnsafePathError extends Error {
  constructor(message: string, readonly status: 400 | 403 = 400) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function checkText(value: string, what: string): void {
  if (CONTROL.test(value)) throw new UnsafePathError(`${what} contains a control character`);
  if (value.includes('\\')) throw new UnsafePathError(`${what} may not contain "\\"`);
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) throw new UnsafePathError(`${what} must be relative`, 403);
  if (value.length > 1024) throw new UnsafePathError(`${what} is too long`);
}

/** The segments of a relative subfolder ("" or "a/b"); `..` and `.` are refused. */
export function subfolderSegments(subfolder: string): string[] {
  checkText(subfolder, 'subfolder');
  const segments = subfolder.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) throw new UnsafePathError('subfolder may not contain "." or ".." segments', 403);
  return segments;
}

/** A single file name: no separators, not `.`/`..`, not empty. */
export function checkFileName(name: string, what = 'filename'): string {
  if (name === '') throw new UnsafePathError(`${what} is empty`);
  checkText(name, what);
  if (name.includes('/')) throw new UnsafePathError(`${what} may not contain "/"`, 403);
  if (name === '.' || name === '..') throw new UnsafePathError(`${what} may not be "${name}"`, 403);
  if (name.length > 255) throw new UnsafePathError(`${what} is too long`);
  return name;
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** `root/subfolder/filename`, textually inside `root` (no file system access). */
export function joinInside(root: string, subfolder: string, filename: string): string {
  const full = path.resolve(root, ...subfolderSegments(subfolder), checkFileName(filename));
  if (!isInside(path.resolve(root), full)) throw new UnsafePathError('the path leaves its directory', 403);
  return full;
}

/**
 * The real path of an existing file under `root`, refusing one whose real location (after
 * symlinks) is outside `root`. Returns undefined when it does not exist.
 */
export function existingFileInside(root: string, subfolder: string, filename: string): string | undefined {
  const full = joinInside(root, subfolder, filename);
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    return undefined;
  }
  if (!isInside(realpathSync(root), real)) throw new UnsafePathError('the path leaves its directory', 403);
  return real;
}

/**
 * Creates `root/subfolder` if needed and returns its real path, refusing a subfolder that is
 * (or passes through) a symlink leading outside `root`. Files are then opened with O_NOFOLLOW.
 */
export function directoryInside(root: string, subfolder: string): string {
  const dir = path.resolve(root, ...subfolderSegments(subfolder));
  mkdirSync(dir, { recursive: true });
  const real = realpathSync(dir);
  if (!isInside(realpathSync(root), real)) throw new UnsafePathError('the subfolder leaves its directory', 403);
  return real;
}
