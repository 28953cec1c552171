import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

/**
 * A Hugging Face `tokenizer.json` (with `tokenizer_config.json` beside it when present),
 * loaded with @huggingface/tokenizers. Encodes with the tokenizer's special tokens (Gemma: a
 * leading `<bos>`), and maps words a WordLevel vocabulary does not know to the unknown token
 * (the library leaves their ids undefined).
 */
export class TextTokenizer {
  private constructor(private readonly tokenizer: Tokenizer, readonly padId: number, readonly unkId: number | undefined) {}

  static async load(file: string): Promise<TextTokenizer> {
    const json = JSON.parse(await readFile(file, 'utf8')) as { model?: { unk_token?: string } };
    const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
    const config = existsSync(configFile) ? JSON.parse(await readFile(configFile, 'utf8')) : {};
    const tokenizer = new Tokenizer(json, config);
    const padToken = typeof config.pad_token === 'string' ? config.pad_token : (config.pad_token?.content ?? '<pad>');
    const unkToken = json.model?.unk_token ?? (typeof config.unk_token === 'string' ? config.unk_token : '<unk>');
    return new TextTokenizer(tokenizer, tokenizer.token_to_id(padToken) ?? 0, tokenizer.token_to_id(unkToken));
  }

  /** Token ids with special tokens added, as `tokenizer.encode(text)` in transformers. */
  encode(text: string): number[] {
    const { ids } = this.tokenizer.encode(text);
    return ids.map((id: number | undefined) => {
      if (id !== undefined && id !== null) return id;
      if (this.unkId === undefined) throw new Error('the tokenizer has no unknown token for a word outside its vocabulary');
      return this.unkId;
    });
  }
}

export interface TokenizedPrompt {
  ids: number[];
  mask: number[];
  /** Keep only position 0 and the last `maxSequenceLength − 1` positions of the encoder output. */
  select: boolean;
}

/**
 * Tokenizes a prompt as diffusers' SanaPipeline does (`_get_gemma_prompt_embeds`,
 * `encode_prompt`, `_text_preprocessing` in pipelines/sana/pipeline_sana.py):
 *   prompt = prompt.lower().strip()
 *   with an instruction: text = "\n".join(instruction) + prompt,
 *     length = len(encode("\n".join(instruction))) + maxSequenceLength − 2 (the count includes <bos>)
 *   without: text = prompt, length = maxSequenceLength
 *   right-padded with the pad id (mask 0) / truncated to `length` (the leading <bos> stays)
 * After encoding, positions [0] + [−(maxSequenceLength − 1) .. −1] are kept, so embeddings and
 * mask are always `maxSequenceLength` long. (Without an instruction that selection is the identity.)
 */
export function tokenizePrompt(tokenizer: TextTokenizer, prompt: string, maxSequenceLength: number,
  instruction: readonly string[] | null): TokenizedPrompt {
  const cleaned = prompt.toLowerCase().trim();
  let text = cleaned;
  let length = maxSequenceLength;
  if (instruction && instruction.length > 0) {
    const chi = instruction.join('\n');
    text = chi + cleaned;
    length = tokenizer.encode(chi).length + maxSequenceLength - 2;
  }
  const ids = tokenizer.encode(text).slice(0, length);
  const mask = ids.map(() => 1);
  while (ids.length < length) {
    ids.push(tokenizer.padId);
    mask.push(0);
  }
  return { ids, mask, select: length !== maxSequenceLength };
}

/** diffusers' `select_index = [0] + list(range(-max_length + 1, 0))` over a sequence of `length`. */
export function selectedPositions(length: number, maxSequenceLength: number): number[] {
  return [0, ...Array.from({ length: maxSequenceLength - 1 }, (_, i) => length - maxSequenceLength + 1 + i)];
}
