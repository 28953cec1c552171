import { z, type ZodType } from 'zod';

/**
 * A named kind of value that flows along links (`LATENT`, `IMAGE`, `INT`, ...).
 * `validate` (optional) checks values at run time: literals given to a socket and
 * values a node returns. `is` (optional), a plain predicate accepting the same values, checks
 * node outputs instead when given: every step of a sampler returns tensors, and a zod parse
 * per output costs several times the check. `byteSize` feeds the result cache's byte budget.
 */
export interface DataType<T = unknown> {
  readonly name: string;
  readonly description?: string;
  readonly validate?: ZodType<T>;
  readonly is?: (value: unknown) => value is T;
  byteSize?(value: T): number;
}

/** The wildcard type: an input or output of type `*` connects to anything. */
export const ANY = '*';

export function defineDataType<T>(type: DataType<T>): DataType<T> {
  if (!/^[A-Za-z_*][A-Za-z0-9_]*$|^\*$/.test(type.name)) {
    throw new Error(`data type name ${JSON.stringify(type.name)} must be an identifier such as LATENT or MY_TYPE`);
  }
  return type;
}

export function typesCompatible(outputType: string, inputType: string): boolean {
  return outputType === inputType || outputType === ANY || inputType === ANY;
}

/**
 * A rough size for values of types that declare no `byteSize`: typed arrays count their
 * bytes, strings two bytes a character, containers the sum of their parts (bounded depth).
 */
export function estimateBytes(value: unknown, depth = 0): number {
  if (value === null || value === undefined) return 8;
  switch (typeof value) {
    case 'number': case 'boolean': return 8;
    case 'bigint': return 16;
    case 'string': return 40 + 2 * value.length;
    case 'object': {
      if (ArrayBuffer.isView(value)) return value.byteLength + 64;
      if (value instanceof ArrayBuffer) return value.byteLength + 64;
      if (depth > 4) return 64;
      let total = 64;
      if (Array.isArray(value)) for (const item of value) total += estimateBytes(item, depth + 1);
      else for (const key in value) total += 16 + estimateBytes((value as Record<string, unknown>)[key], depth + 1);
      return total;
    }
    default: return 64;
  }
}

export const INT = defineDataType<number>({ name: 'INT', description: 'an integer', validate: z.number().int() });
export const FLOAT = defineDataType<number>({ name: 'FLOAT', description: 'a number', validate: z.number() });
export const STRING = defineDataType<string>({ name: 'STRING', description: 'a string', validate: z.string() });
export const BOOLEAN = defineDataType<boolean>({ name: 'BOOLEAN', description: 'true or false', validate: z.boolean() });

export const BUILTIN_DATA_TYPES: readonly DataType[] = [INT, FLOAT, STRING, BOOLEAN] as DataType[];
