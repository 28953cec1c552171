import { writeFile } from 'node:fs/promises';
import { ANY, BOOLEAN, FLOAT, INT, STRING } from '../engine/data-types.ts';
import { boolean, choice, defineNode, float, int, socket, string } from '../engine/index.ts';

/** Constants, arithmetic and text: small nodes that feed widgets of other nodes through links. */

export const PrimitiveInt = defineNode({
  type: 'PrimitiveInt', category: 'utils/primitive', description: 'An integer constant.',
  inputs: { value: int({ default: 0, min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }) },
  outputs: [{ name: 'INT', type: INT }],
  run: ({ value }) => [value],
});

export const PrimitiveFloat = defineNode({
  type: 'PrimitiveFloat', category: 'utils/primitive', description: 'A number constant.',
  inputs: { value: float({ default: 0 }) },
  outputs: [{ name: 'FLOAT', type: FLOAT }],
  run: ({ value }) => [value],
});

export const PrimitiveString = defineNode({
  type: 'PrimitiveString', category: 'utils/primitive', description: 'A text constant.',
  inputs: { value: string({ default: '', multiline: true }) },
  outputs: [{ name: 'STRING', type: STRING }],
  run: ({ value }) => [value],
});

export const PrimitiveBoolean = defineNode({
  type: 'PrimitiveBoolean', category: 'utils/primitive', description: 'A true/false constant.',
  inputs: { value: boolean({ default: false }) },
  outputs: [{ name: 'BOOLEAN', type: BOOLEAN }],
  run: ({ value }) => [value],
});

const intOps = {
  add: (a: number, b: number) => a + b,
  subtract: (a: number, b: number) => a - b,
  multiply: (a: number, b: number) => a * b,
  divide: (a: number, b: number) => Math.floor(a / b),
  modulo: (a: number, b: number) => a % b,
  min: Math.min,
  max: Math.max,
} as const;

export const MathInt = defineNode({
  type: 'MathInt', category: 'utils/math', description: 'Integer arithmetic: a <op> b (divide rounds down).',
  inputs: {
    a: int({ default: 0 }),
    b: int({ default: 0 }),
    op: choice(['add', 'subtract', 'multiply', 'divide', 'modulo', 'min', 'max']),
  },
  outputs: [{ name: 'INT', type: INT }],
  run: ({ a, b, op }) => {
    if ((op === 'divide' || op === 'modulo') && b === 0) throw new Error(`cannot ${op} by zero (b is 0)`);
    const value = intOps[op](a, b);
    if (!Number.isSafeInteger(value)) throw new Error(`${a} ${op} ${b} overflows the safe integer range`);
    return [value];
  },
});

const floatOps = {
  add: (a: number, b: number) => a + b,
  subtract: (a: number, b: number) => a - b,
  multiply: (a: number, b: number) => a * b,
  divide: (a: number, b: number) => a / b,
  power: Math.pow,
  min: Math.min,
  max: Math.max,
} as const;

export const MathFloat = defineNode({
  type: 'MathFloat', category: 'utils/math', description: 'Arithmetic on numbers: a <op> b.',
  inputs: {
    a: float({ default: 0 }),
    b: float({ default: 0 }),
    op: choice(['add', 'subtract', 'multiply', 'divide', 'power', 'min', 'max']),
  },
  outputs: [{ name: 'FLOAT', type: FLOAT }],
  run: ({ a, b, op }) => {
    const value = floatOps[op](a, b);
    if (!Number.isFinite(value)) throw new Error(`${a} ${op} ${b} is not a finite number`);
    return [value];
  },
});

export const FormatText = defineNode({
  type: 'FormatText', category: 'utils/text',
  description: 'Replaces each {} in the template with the value (any type, shown as text).',
  inputs: { template: string({ default: '{}', multiline: true }), value: socket(ANY) },
  outputs: [{ name: 'STRING', type: STRING }],
  run: ({ template, value }) => [template.replaceAll('{}', typeof value === 'string' ? value : JSON.stringify(value))],
});

export const ShowText = defineNode({
  type: 'ShowText', category: 'utils/text', description: 'Shows a text in the editor (and the CLI).',
  output: true,
  inputs: { text: socket(STRING) },
  outputs: [],
  run: ({ text }) => ({ ui: { text: [text] } }),
});

export const SaveText = defineNode({
  type: 'SaveText', category: 'utils/text', description: 'Writes a text to <prefix>_00001.txt in the output folder.',
  output: true,
  inputs: { text: socket(STRING), filename_prefix: string({ default: 'sanagraph' }) },
  outputs: [],
  run: async ({ text, filename_prefix }, ctx) => {
    const file = ctx.reserveFile(filename_prefix, 'txt');
    await writeFile(file.path, text);
    return { ui: { text: [text], files: [{ filename: file.filename, subfolder: file.subfolder, type: file.type }] } };
  },
});

export default [PrimitiveInt, PrimitiveFloat, PrimitiveString, PrimitiveBoolean, MathInt, MathFloat, FormatText, ShowText, SaveText];
