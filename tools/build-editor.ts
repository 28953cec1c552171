import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the editor (vite) into editor/dist. With `--if-stale` (what `npm start` and the browser
 * tests use) it builds only when a source file is newer than the last build.
 */
const root = fileURLToPath(new URL('../editor', import.meta.url));
const output = path.join(root, 'dist', 'index.html');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
  }
  return newest;
}

function isStale(): boolean {
  try {
    return newestSource(root) > statSync(output).mtimeMs;
  } catch {
    return true;
  }
}

export async function buildEditor(opts: { ifStale?: boolean } = {}): Promise<boolean> {
  if (opts.ifStale && !isStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: path.join(root, 'vite.config.ts'), root });
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const started = performance.now();
  const built = await buildEditor({ ifStale: process.argv.includes('--if-stale') });
  if (built) console.error(`editor built in ${Math.round(performance.now() - started)} ms (editor/dist)`);
}
