import type { NodeRegistry } from '../engine/registry.ts';
import primitives from './primitives.ts';

/** The built-in node families, one module each. */
export const BUILTIN_FAMILIES = [
  { source: 'builtin:nodes/primitives.ts', nodes: primitives },
];

export function registerBuiltins(registry: NodeRegistry): void {
  for (const family of BUILTIN_FAMILIES) registry.register(family.nodes, family.source);
}
