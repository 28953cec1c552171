import { z, type ZodType } from 'zod';
import type { DataType } from './data-types.ts';

/**
 * Input specs: the single description of a node input. The same object gives the
 * TypeScript type of the value `run` receives, the validation of literals, the
 * `/object_info` entry and the editor's widget.
 *
 * A socket takes a link from another node's output of a compatible data type.
 * A widget takes a literal checked by its zod schema (or a link of its `linkType`,
 * checked by the same schema when the value arrives).
 */
interface SpecBase<T, Opt extends boolean> {
  /** Phantom field: carries the value type for inference only. */
  readonly __value?: T;
  readonly optional: Opt;
  readonly tooltip?: string;
}

export interface SocketSpec<T = unknown, Opt extends boolean = boolean> extends SpecBase<T, Opt> {
  readonly kind: 'socket';
  readonly type: string;
}

export type WidgetKind = 'INT' | 'FLOAT' | 'STRING' | 'BOOLEAN' | 'COMBO';

export interface WidgetSpec<T = unknown, Opt extends boolean = boolean> extends SpecBase<T, Opt> {
  readonly kind: 'widget';
  readonly widget: WidgetKind;
  /** The data type a link into this widget must carry. */
  readonly linkType: string;
  readonly schema: ZodType<T>;
  readonly default?: T;
  /** What a valid value is, in words: "an integer between 1 and 1000". */
  readonly expected: string;
  /** Widget options as ComfyUI's object_info spells them (min, max, step, multiline, ...). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly choices?: readonly string[];
}

export type InputSpec = SocketSpec | WidgetSpec;
export type InputSpecs = Readonly<Record<string, InputSpec>>;

/** The value `run` receives for one input spec. */
export type InputValue<S> =
  S extends SpecBase<infer T, infer Opt> ? (Opt extends true ? T | undefined : T) : never;
export type InputValues<I extends InputSpecs> = { -readonly [K in keyof I]: InputValue<I[K]> };

interface CommonOptions { tooltip?: string }

export function socket<T = unknown>(type: string | DataType<T>, opts: CommonOptions = {}): SocketSpec<T, false> {
  return { kind: 'socket', type: typeof type === 'string' ? type : type.name, optional: false, ...opts };
}

/** Marks any spec optional: absent inputs reach `run` as `undefined` (or the widget's default). */
export function optional<T>(spec: SocketSpec<T, boolean>): SocketSpec<T, true>;
export function optional<T>(spec: WidgetSpec<T, boolean>): WidgetSpec<T, true>;
export function optional(spec: InputSpec): InputSpec {
  return { ...spec, optional: true };
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` between ${min} and ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return '';
}

function bounded(schema: z.ZodNumber, min?: number, max?: number): z.ZodNumber {
  let s = schema;
  if (min !== undefined) s = s.min(min);
  if (max !== undefined) s = s.max(max);
  return s;
}

interface NumberOptions extends CommonOptions { default?: number; min?: number; max?: number; step?: number }

export function int(o: NumberOptions = {}): WidgetSpec<number, false> {
  const { tooltip, ...options } = o;
  return {
    kind: 'widget', widget: 'INT', linkType: 'INT', optional: false, tooltip,
    schema: bounded(z.number().int(), o.min, o.max), default: o.default,
    expected: `an integer${range(o.min, o.max)}`, options: { step: 1, ...options },
  };
}

export function float(o: NumberOptions & { round?: number | false } = {}): WidgetSpec<number, false> {
  const { tooltip, ...options } = o;
  return {
    kind: 'widget', widget: 'FLOAT', linkType: 'FLOAT', optional: false, tooltip,
    schema: bounded(z.number(), o.min, o.max), default: o.default,
    expected: `a number${range(o.min, o.max)}`, options: { step: 0.01, ...options },
  };
}

const MAX_SEED = 2 ** 64 - 1;

/**
 * A seed: an integer from 0 to 2^64 − 1 (ComfyUI's range; torch accepts it) that the editor can
 * randomize after each run. JSON numbers above 2^53 arrive rounded, as in every JSON client; the
 * rounded value is what seeds the generator, so a workflow still reproduces itself.
 */
export function seed(o: { default?: number } & CommonOptions = {}): WidgetSpec<number, false> {
  const spec = int({ min: 0, max: MAX_SEED, default: o.default ?? 0, tooltip: o.tooltip });
  const schema = z.number().refine((v) => Number.isInteger(v) && v >= 0 && v <= MAX_SEED);
  return { ...spec, schema, expected: 'an integer between 0 and 18446744073709551615', options: { ...spec.options, max: MAX_SEED, control_after_generate: true } };
}

export function string(o: { default?: string; multiline?: boolean; placeholder?: string } & CommonOptions = {}): WidgetSpec<string, false> {
  const { tooltip, ...options } = o;
  return {
    kind: 'widget', widget: 'STRING', linkType: 'STRING', optional: false, tooltip,
    schema: z.string(), default: o.default, expected: 'a string', options: { multiline: false, ...options },
  };
}

export function boolean(o: { default?: boolean } & CommonOptions = {}): WidgetSpec<boolean, false> {
  const { tooltip, ...options } = o;
  return {
    kind: 'widget', widget: 'BOOLEAN', linkType: 'BOOLEAN', optional: false, tooltip,
    schema: z.boolean(), default: o.default, expected: 'true or false', options,
  };
}

/** One of a fixed list of strings (a dropdown). Links into it carry a STRING. */
export function choice<const C extends readonly [string, ...string[]]>(
  choices: C, o: { default?: C[number] } & CommonOptions = {},
): WidgetSpec<C[number], false> {
  const { tooltip, ...options } = o;
  return {
    kind: 'widget', widget: 'COMBO', linkType: 'STRING', optional: false, tooltip,
    schema: z.enum(choices as unknown as [C[number], ...C[number][]]) as unknown as ZodType<C[number]>,
    default: o.default ?? choices[0], choices,
    expected: `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, options,
  };
}

/** The data type name an input accepts from a link. */
export function acceptedType(spec: InputSpec): string {
  return spec.kind === 'socket' ? spec.type : spec.linkType;
}
