import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Conditioning } from '../nodes/types.ts';
import { selectedPositions, TextTokenizer, tokenizePrompt } from '../nodes/tokenizer.ts';
import { pipelineEngine, tinyModels } from './tiny-fixtures.ts';

const setups: ReturnType<typeof pipelineEngine>[] = [];
after(async () => { for (const s of setups) await s.services.models.close(); });

async function tokenizer() {
  return TextTokenizer.load(path.join(await tinyModels({ layout: 'sanagraph' }), 'tokenizer.json'));
}

describe('prompt tokenization (as diffusers\' SanaPipeline)', () => {
  it('encodes with <bos> first and maps unknown words to <unk>', async () => {
    const tok = await tokenizer();
    const ids = tok.encode('a red zyzzyva circle');
    assert.equal(ids[0], 2, '<bos>');
    assert.equal(ids.length, 5);
    assert.equal(ids[3], tok.unkId);
    assert.notEqual(ids[2], tok.unkId);
  });

  it('lowercases and strips the prompt, right-pads to the max length with mask 0', async () => {
    const tok = await tokenizer();
    const t = tokenizePrompt(tok, '   A Large RED Circle  ', 8, null);
    assert.deepEqual(t.ids, [...tok.encode('a large red circle'), 0, 0, 0]);
    assert.deepEqual(t.mask, [1, 1, 1, 1, 1, 0, 0, 0]);
    assert.equal(t.select, false);
  });

  it('truncates long prompts to the max length, keeping <bos>', async () => {
    const tok = await tokenizer();
    const t = tokenizePrompt(tok, 'a large red circle in the center on a blue background', 4, null);
    assert.deepEqual(t.ids, tok.encode('a large red'));
    assert.deepEqual(t.mask, [1, 1, 1, 1]);
  });

  it('prefixes the instruction, lengthens the sequence by its tokens − 2, and selects [0] + the last max−1', async () => {
    const tok = await tokenizer();
    const instruction = ['enhanced prompt:', 'user prompt: '];
    const chiTokens = tok.encode(instruction.join('\n')).length;
    const t = tokenizePrompt(tok, 'A red circle', 8, instruction);
    assert.equal(t.ids.length, chiTokens + 8 - 2);
    assert.deepEqual(t.ids.slice(0, chiTokens), tok.encode(instruction.join('\n')), 'the instruction comes first');
    assert.equal(t.select, true);
    const positions = selectedPositions(t.ids.length, 8);
    assert.deepEqual(positions, [0, ...Array.from({ length: 7 }, (_, i) => t.ids.length - 7 + i)]);
  });

  it('TextEncode gives the encoder output at the selected positions, and their mask', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const s = pipelineEngine();
    setups.push(s);
    const wf = { format: 'sanagraph/workflow@1', nodes: {
      1: { type: 'LoadPipeline', inputs: { path: dir, device: 'cpu' } },
      2: { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text: 'a large red circle' } },
      3: { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text: 'a large red circle', complex_human_instruction: false } },
    } };
    // Recompute by hand: the encoder on the full instruction-prefixed sequence, then the selection.
    const pipeline = JSON.parse((await import('node:fs')).readFileSync(path.join(dir, 'pipeline.json'), 'utf8'));
    const tok = await TextTokenizer.load(path.join(dir, 'tokenizer.json'));
    const t = tokenizePrompt(tok, 'a large red circle', pipeline.textEncoder.maxSequenceLength, pipeline.textEncoder.complexHumanInstruction);
    const model = await s.services.models.load(path.join(dir, 'text_encoder.onnx'), 'cpu');
    const { tensor } = await import('../engine/tensor.ts');
    const out = await s.services.models.run(model, {
      input_ids: tensor('int64', [1, t.ids.length], BigInt64Array.from(t.ids, BigInt)),
      attention_mask: tensor('int64', [1, t.ids.length], BigInt64Array.from(t.mask, BigInt)),
    });
    const hidden = out.outputs.last_hidden_state.data as Float32Array;
    const width = out.outputs.last_hidden_state.dims[2];
    const positions = selectedPositions(t.ids.length, pipeline.textEncoder.maxSequenceLength);
    const expected = positions.flatMap((p) => [...hidden.subarray(p * width, (p + 1) * width)]);
    const got = await encoded(s, wf, '2');
    assert.deepEqual(got.embeds.dims, [1, pipeline.textEncoder.maxSequenceLength, width]);
    assert.deepEqual([...got.embeds.data], expected);
    assert.deepEqual([...got.mask.data], positions.map((p) => t.mask[p]));
    const plain = await encoded(s, wf, '3');
    assert.notDeepEqual([...plain.embeds.data], expected, 'without the instruction the embeddings differ');
  });
});

/** The conditioning a node produced, caught by a probe output node linked to it. */
async function encoded(s: ReturnType<typeof pipelineEngine>, wf: { nodes: Record<string, unknown> }, id: string): Promise<Conditioning> {
  const { defineNode, socket } = await import('../engine/index.ts');
  const { CONDITIONING } = await import('../nodes/types.ts');
  if (!s.engine.registry.get('ProbeConditioning')) {
    s.engine.registry.register([defineNode({
      type: 'ProbeConditioning', category: 'test', description: '', output: true, cache: false,
      inputs: { c: socket(CONDITIONING) }, outputs: [], run: ({ c }) => { probe.last = c; return {}; },
    })], 'test');
  }
  const result = await s.engine.execute({ format: 'sanagraph/workflow@1', nodes: { ...wf.nodes, p: { type: 'ProbeConditioning', inputs: { c: [id, 0] } } } }, { targets: ['p'] });
  assert.equal(result.status, 'success', result.error?.exception_message);
  return probe.last!;
}
const probe: { last?: Conditioning } = {};
