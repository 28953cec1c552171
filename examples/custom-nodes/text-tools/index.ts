/**
 * An example custom node package. Put a folder like this one (or a single .ts/.js file)
 * in ./custom_nodes, or point `--custom-nodes` at its parent directory:
 *
 *   npx sanagraph run my-workflow.json --custom-nodes examples/custom-nodes
 *
 * The default export (or a `nodes` export) is the array of node definitions.
 */
import { choice, defineNode, int, socket, string, STRING } from 'sanagraph';

export const ReverseText = defineNode({
  type: 'ReverseText',
  category: 'examples/text',
  description: 'Reverses a text, character by character.',
  inputs: { text: socket(STRING) },
  outputs: [{ name: 'text', type: STRING }],
  run: ({ text }) => [[...text].reverse().join('')],
});

export const RepeatText = defineNode({
  type: 'RepeatText',
  category: 'examples/text',
  description: 'Repeats a text, joined by a separator.',
  inputs: {
    text: socket(STRING),
    times: int({ default: 2, min: 1, max: 100, tooltip: 'how many copies' }),
    separator: string({ default: ' ' }),
  },
  outputs: [{ name: 'text', type: STRING }],
  run: ({ text, times, separator }) => [Array.from({ length: times }, () => text).join(separator)],
});

export const ChangeCase = defineNode({
  type: 'ChangeCase',
  category: 'examples/text',
  description: 'Upper- or lower-cases a text; reports progress and honours interrupts like long nodes should.',
  inputs: { text: socket(STRING), to: choice(['upper', 'lower']) },
  outputs: [{ name: 'text', type: STRING }],
  run: async ({ text, to }, ctx) => {
    ctx.signal.throwIfAborted();
    ctx.progress(1, 1);
    return [to === 'upper' ? text.toUpperCase() : text.toLowerCase()];
  },
});

export default [ReverseText, RepeatText, ChangeCase];
