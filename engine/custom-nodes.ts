import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataType } from './data-types.ts';
import type { NodeRegistry } from './registry.ts';

/**
 * Custom node packages: every `.js`/`.mjs`/`.ts`/`.mts` file, or folder with an entry point
 * (`package.json` `main`, or `index.ts`/`index.js`/...), directly inside a custom-nodes
 * directory. A package exports its node definitions as the default export or as `nodes`
 * (an array), and may export `dataTypes`. Custom nodes are code: only load directories you trust.
 */
export interface CustomNodeReport {
  loaded: { path: string; types: string[] }[];
  failed: { path: string; error: string }[];
}

const MODULE_EXT = /\.(m?js|m?ts)$/;
const INDEX_FILES = ['index.ts', 'index.mts', 'index.js', 'index.mjs'];

function entryPoint(dir: string): string | undefined {
  const pkgFile = path.join(dir, 'package.json');
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: string; exports?: unknown };
    const main = typeof pkg.exports === 'string' ? pkg.exports : pkg.main;
    if (main) return path.join(dir, main);
  }
  return INDEX_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
}

/** The package entry points in one custom-nodes directory, in name order. */
export function findPackages(dir: string): { path: string; entry?: string }[] {
  return readdirSync(dir).sort()
    .filter((name) => !name.startsWith('.') && !name.startsWith('_') && name !== 'node_modules')
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return [{ path: full, entry: entryPoint(full) }];
      return MODULE_EXT.test(name) && !name.endsWith('.d.ts') ? [{ path: full, entry: full }] : [];
    });
}

function exportedNodes(mod: Record<string, unknown>): unknown[] {
  const nodes = mod.nodes ?? mod.default;
  if (!Array.isArray(nodes)) {
    throw new Error('exports no node definitions: export an array of defineNode(...) results as `default` or `nodes`');
  }
  return nodes;
}

/** Loads every package it finds; a broken one is reported and skipped, never fatal. */
export async function loadCustomNodes(registry: NodeRegistry, dirs: readonly string[]): Promise<CustomNodeReport> {
  const report: CustomNodeReport = { loaded: [], failed: [] };
  for (const dir of dirs) {
    const abs = path.resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) {
      report.failed.push({ path: abs, error: 'custom nodes directory does not exist' });
      continue;
    }
    for (const pkg of findPackages(abs)) {
      try {
        if (!pkg.entry || !existsSync(pkg.entry)) throw new Error(`no entry point (package.json "main" or ${INDEX_FILES.join(', ')})`);
        const mod = (await import(pathToFileURL(pkg.entry).href)) as Record<string, unknown>;
        const nodes = exportedNodes(mod);
        for (const type of (Array.isArray(mod.dataTypes) ? mod.dataTypes : []) as DataType[]) registry.registerDataType(type);
        registry.register(nodes, pkg.path);
        report.loaded.push({ path: pkg.path, types: nodes.map((n) => (n as { type: string }).type) });
      } catch (error) {
        report.failed.push({ path: pkg.path, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  return report;
}
