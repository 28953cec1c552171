import { createHash } from 'node:crypto';
import * as crypto from 'node:crypto';
import type { GraphNode } from './validate.ts';

/**
 * A node's cache key, computed incrementally (linear in graph size):
 *   hash(type, version, literal inputs in declared order, each link's source signature and
 *        output index, extra)
 * where `extra` carries `isChanged`'s answer, or a per-run nonce for `cache: false` nodes.
 * Equal signatures mean equal results, across runs and across workflows sharing a prefix.
 */
export function nodeSignature(node: GraphNode, signatures: ReadonlyMap<string, string>, extra = ''): string {
  const { def } = node.registered;
  let text = `${def.type}\u0000${def.version ?? 1}\u0000${literalsJson(node.literals)}\u0000${extra}`;
  for (const link of node.links) text += `\u0000${link.input}=${signatures.get(link.from)}:${link.output}`;
  return digest(text);
}

/**
 * The JSON of resolved literals that serve run after run (an expansion's kept nodes, see
 * expansion-plans.ts); literals never change once resolved. Only those are remembered: a
 * WeakMap entry for every workflow node would cost more than the JSON it saves.
 */
const literalTexts = new WeakMap<object, string>();
export function rememberLiteralsJson(literals: object): void {
  literalTexts.set(literals, stableJson(literals));
}
const literalsJson = (literals: object): string => literalTexts.get(literals) ?? stableJson(literals);

/** JSON that also accepts bigints (as "123n"); used only for hashing. */
export function stableJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined'; // the fast path: a replacer makes stringify several times slower
  } catch {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ?? 'undefined';
  }
}

// crypto.hash (Node ≥ 20.12) is a one-shot digest, several times cheaper than createHash for short inputs.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;

export function digest(text: string): string {
  return oneShot ? oneShot('sha1', text, 'base64url') : createHash('sha1').update(text).digest('base64url');
}
