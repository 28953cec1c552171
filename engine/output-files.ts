import { closeSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { SavedFile } from './node.ts';

/** Checks a user-given file prefix: relative, no `..`, no NUL; may name subfolders with `/`. */
export function checkPrefix(prefix: string): { subfolder: string; base: string } {
  const parts = prefix.replace(/\\/g, '/').split('/');
  const bad = prefix.length === 0 || prefix.includes('\0') || path.isAbsolute(prefix) || /^[A-Za-z]:/.test(prefix)
    || parts.some((p) => p === '..' || p === '.') || parts.at(-1) === '';
  if (bad) {
    throw new Error(`filename prefix ${JSON.stringify(prefix)} must be a relative name such as "sanagraph" or `
      + '"subfolder/name", without ".." or an absolute path');
  }
  return { subfolder: parts.slice(0, -1).filter(Boolean).join('/'), base: parts.at(-1)! };
}

const counters = new Map<string, number>();

function highestCounter(dir: string, base: string, ext: string): number {
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_(\\d{5,})\\.${ext}$`);
  let max = 0;
  for (const name of readdirSync(dir)) {
    const m = pattern.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

/**
 * Creates `<root>/<subfolder>/<base>_00001.<ext>` (or the next free number) empty and
 * returns it. The `wx` open makes the choice atomic: concurrent writers and existing
 * files are never overwritten.
 */
export function reserveFile(root: string, prefix: string, ext: string, type: SavedFile['type']): SavedFile {
  const { subfolder, base } = checkPrefix(prefix);
  if (!/^[A-Za-z0-9]+$/.test(ext)) throw new Error(`file extension ${JSON.stringify(ext)} must be alphanumeric`);
  const dir = path.join(root, subfolder);
  mkdirSync(dir, { recursive: true });
  const key = `${dir}\u0000${base}\u0000${ext}`;
  // Scan the folder once per prefix; afterwards the `wx` open alone guards against files made meanwhile.
  let n = (counters.get(key) ?? highestCounter(dir, base, ext)) + 1;
  for (;; n++) {
    const filename = `${base}_${String(n).padStart(5, '0')}.${ext}`;
    const file = path.join(dir, filename);
    try {
      closeSync(openSync(file, 'wx'));
      counters.set(key, n);
      return { path: file, filename, subfolder, type };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
