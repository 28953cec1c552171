/**
 * Nodes for the server tests, loaded as a custom node package (`--custom-nodes` this folder).
 * SlowText waits `ms` in `steps` parts, reporting progress after each, and stops at once when
 * the run is interrupted; its text names the value, so every prompt's output is recognisable.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineNode, int, STRING } from '../../../engine/index.ts';

export default [
  defineNode({
    type: 'SlowText',
    category: 'tests',
    description: 'Waits ms milliseconds (in steps, with progress), then outputs "value <value>".',
    inputs: {
      value: int({ default: 0 }),
      ms: int({ default: 0, min: 0, max: 600_000 }),
      steps: int({ default: 1, min: 1, max: 1000 }),
    },
    outputs: [{ name: 'text', type: STRING }],
    run: async ({ value, ms, steps }, ctx) => {
      for (let i = 1; i <= steps; i++) {
        await sleep(ms / steps, undefined, { signal: ctx.signal });
        ctx.progress(i, steps);
      }
      return [`value ${value}`];
    },
  }),
];
