import { boolean, defineNode, InputError, socket, string, tensor, type Float32Tensor } from '../engine/index.ts';
import { float32 } from '../engine/tensor.ts';
import { selectedPositions, tokenizePrompt } from './tokenizer.ts';
import { CONDITIONING, TEXT_ENCODER, type Conditioning } from './types.ts';

/** Keeps the given sequence positions of [1, L, D] embeddings and a [L] mask. */
function select(embeds: Float32Tensor, mask: number[], positions: number[]): Conditioning {
  const width = embeds.dims[2];
  const out = new Float32Array(positions.length * width);
  positions.forEach((p, i) => out.set(embeds.data.subarray(p * width, (p + 1) * width), i * width));
  return {
    embeds: float32([1, positions.length, width], out),
    mask: float32([1, positions.length], Float32Array.from(positions, (p) => mask[p])),
  };
}

export const TextEncode = defineNode({
  type: 'TextEncode',
  displayName: 'Text encode',
  category: 'sana/conditioning',
  description: 'Encodes a prompt with the pipeline\'s text encoder, as diffusers\' SanaPipeline does.',
  inputs: {
    text_encoder: socket(TEXT_ENCODER),
    text: string({ default: '', multiline: true }),
    complex_human_instruction: boolean({
      default: true,
      tooltip: 'prefix the prompt with the pipeline\'s instruction, as diffusers does for prompts (not for negative prompts)',
    }),
  },
  outputs: [{ name: 'conditioning', type: CONDITIONING }],
  run: async ({ text_encoder: te, text, complex_human_instruction }) => {
    if (!te.model || !te.tokenizer) {
      throw new InputError('text_encoder', `pipeline "${te.pipeline}" has no text encoder; load pre-computed embeddings with LoadConditioning`);
    }
    const instruction = complex_human_instruction ? te.complexHumanInstruction : null;
    const tokens = tokenizePrompt(te.tokenizer, text, te.maxSequenceLength, instruction);
    const length = tokens.ids.length;
    const outputs = await te.model.run({
      [te.io.ids]: tensor('int64', [1, length], BigInt64Array.from(tokens.ids, BigInt)),
      [te.io.mask]: tensor('int64', [1, length], BigInt64Array.from(tokens.mask, BigInt)),
    });
    const hidden = outputs[te.io.output] as Float32Tensor;
    const positions = tokens.select ? selectedPositions(length, te.maxSequenceLength) : Array.from({ length }, (_, i) => i);
    return [select(hidden, tokens.mask, positions)];
  },
});

export default [TextEncode];
