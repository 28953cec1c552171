import { z } from 'zod';
import { BUILTIN_DATA_TYPES, type DataType } from './data-types.ts';
import { outputTypeName, type AnyNodeDefinition } from './node.ts';

export interface RegisteredNode {
  readonly def: AnyNodeDefinition;
  /** Where it came from: "builtin:nodes/primitives.ts" or a custom package's path. */
  readonly source: string;
  /** Output type names, resolved once. */
  readonly outputTypes: readonly string[];
}

const specSchema = z.looseObject({ kind: z.enum(['socket', 'widget']) });
const definitionSchema = z.looseObject({
  type: z.string().regex(/^[A-Za-z][A-Za-z0-9_+-]*$/, 'must start with a letter and use letters, digits, _ + -'),
  category: z.string(),
  description: z.string(),
  version: z.number().int().positive().optional(),
  inputs: z.record(z.string(), specSchema),
  outputs: z.array(z.looseObject({ name: z.string(), type: z.union([z.string(), z.looseObject({ name: z.string() })]) })),
  output: z.boolean().optional(),
  cache: z.boolean().optional(),
  run: z.function(),
});

export class DuplicateNodeTypeError extends Error {
  constructor(readonly type: string, readonly firstSource: string, readonly secondSource: string) {
    super(`node type "${type}" from ${secondSource} is already defined by ${firstSource}`);
    this.name = 'DuplicateNodeTypeError';
  }
}

/** Checks a definition's shape (a custom package may hand us anything). Throws with every problem. */
export function checkDefinition(def: unknown): asserts def is AnyNodeDefinition {
  const parsed = definitionSchema.safeParse(def);
  if (!parsed.success) {
    const name = (def as { type?: unknown } | null)?.type;
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'definition'}: ${i.message}`).join('; ');
    throw new Error(`invalid node definition${typeof name === 'string' ? ` "${name}"` : ''}: ${issues}`);
  }
}

export class NodeRegistry {
  private readonly nodes = new Map<string, RegisteredNode>();
  private readonly dataTypes = new Map<string, DataType>();

  constructor() {
    for (const t of BUILTIN_DATA_TYPES) this.dataTypes.set(t.name, t);
  }

  /** Registers definitions all or nothing: a duplicate rejects the whole batch. */
  register(defs: readonly unknown[], source: string): void {
    const seen = new Set<string>();
    for (const def of defs) {
      checkDefinition(def);
      const existing = this.nodes.get(def.type);
      if (existing) throw new DuplicateNodeTypeError(def.type, existing.source, source);
      if (seen.has(def.type)) throw new DuplicateNodeTypeError(def.type, source, source);
      seen.add(def.type);
    }
    for (const def of defs as AnyNodeDefinition[]) {
      this.nodes.set(def.type, { def, source, outputTypes: def.outputs.map(outputTypeName) });
      for (const out of def.outputs) if (typeof out.type !== 'string') this.registerDataType(out.type);
    }
  }

  /** Registers a data type; registering the same object (or name) again keeps the first. */
  registerDataType(type: DataType): void {
    if (!this.dataTypes.has(type.name)) this.dataTypes.set(type.name, type);
  }

  get(type: string): RegisteredNode | undefined {
    return this.nodes.get(type);
  }

  dataType(name: string): DataType | undefined {
    return this.dataTypes.get(name);
  }

  types(): string[] {
    return [...this.nodes.keys()];
  }

  all(): RegisteredNode[] {
    return [...this.nodes.values()];
  }

  /** Known node types closest to a misspelt one, best first. */
  suggest(type: string, max = 3): string[] {
    const lower = type.toLowerCase();
    const scored = this.types().map((t) => {
      const tl = t.toLowerCase();
      const d = editDistance(lower, tl);
      const contains = tl.includes(lower) || lower.includes(tl);
      return { t, score: contains ? Math.min(d, 1) : d };
    });
    const limit = Math.max(2, Math.floor(type.length / 3));
    return scored.filter((s) => s.score <= limit).sort((a, b) => a.score - b.score || a.t.localeCompare(b.t))
      .slice(0, max).map((s) => s.t);
  }
}

/** Edit distance where a swap of neighbours counts as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
