import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { makeTinyModels, type TinyModelOptions } from '../tools/make-tiny-models.ts';
import { fromHalfBits as f16BitsToF32, toHalfBits as f32ToF16Bits } from '../engine/tensor.ts';
import { DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION } from '../nodes/pipeline-folder.ts';
import { fromF16Array, mulberry32, toF16Array } from '../engine/onnx/graph-builder.ts';
import { encodeModel } from '../engine/onnx/protobuf-writer.ts';
import {
  TEST_PROMPT, tinyTextEncoderVocabSize, type Layout,
} from '../tools/onnx/sana-tiny.ts';

ort.env.logLevel = 'error';
// One intra-op thread: the test machine has two cores and other suites run beside this one.
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1 };

/** Where each layout puts things and what it calls them. */
const LAYOUTS = {
  sanagraph: {
    dit: 'transformer.onnx', vae: 'vae_decoder.onnx', te: 'text_encoder.onnx',
    tokenizer: 'tokenizer.json', tokenizerConfig: 'tokenizer_config.json',
    ditInputs: ['hidden_states', 'encoder_hidden_states', 'encoder_attention_mask', 'timestep'],
    ditOutput: 'velocity', maskType: 'float32', vaeInput: 'latent', vaeOutput: 'image',
  },
  optimum: {
    dit: 'transformer/model.onnx', vae: 'vae_decoder/model.onnx', te: 'text_encoder/model.onnx',
    tokenizer: 'tokenizer/tokenizer.json', tokenizerConfig: 'tokenizer/tokenizer_config.json',
    ditInputs: ['hidden_states', 'encoder_hidden_states', 'timestep', 'encoder_attention_mask'],
    ditOutput: 'out_hidden_states', maskType: 'int64', vaeInput: 'latent_sample', vaeOutput: 'sample',
  },
} as const;

const dirs: string[] = [];
async function generate(opts: TinyModelOptions): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sanagraph-tiny-'));
  dirs.push(dir);
  await makeTinyModels(dir, opts);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sessions: ort.InferenceSession[] = [];
async function session(file: string): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(file, SESSION_OPTIONS);
  sessions.push(s);
  return s;
}
after(async () => {
  for (const s of sessions) await s.release();
});

// ---------------------------------------------------------------------------------------------
// Inputs

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

interface DitCase {
  batch: number;
  h: number;
  w: number;
  len: number;
  /** Text positions < validLen are real, the rest padding (mask 0). */
  validLen?: number;
  timestep?: number;
  text?: Float32Array;
  mask?: number[];
}

function textEmbeddings(c: DitCase): Float32Array {
  return c.text ?? randomArray(c.batch * c.len * 64, 2, 2);
}

function maskValues(c: DitCase): number[] {
  return c.mask ?? Array.from({ length: c.batch * c.len }, (_, i) => (i % c.len < (c.validLen ?? c.len) ? 1 : 0));
}

function floatTensor(data: Float32Array, dims: number[], fp16: boolean): ort.Tensor {
  return fp16 ? new ort.Tensor('float16', toF16Array(data), dims) : new ort.Tensor('float32', data, dims);
}

function ditFeeds(c: DitCase, maskType: 'float32' | 'int64' | 'float16', fp16 = false): Record<string, ort.Tensor> {
  const mask = maskValues(c);
  return {
    hidden_states: floatTensor(randomArray(c.batch * 32 * c.h * c.w, 1), [c.batch, 32, c.h, c.w], fp16),
    encoder_hidden_states: floatTensor(textEmbeddings(c), [c.batch, c.len, 64], fp16),
    encoder_attention_mask: maskType === 'int64'
      ? new ort.Tensor('int64', BigInt64Array.from(mask, (m) => BigInt(m)), [c.batch, c.len])
      : floatTensor(Float32Array.from(mask), [c.batch, c.len], maskType === 'float16'),
    timestep: floatTensor(Float32Array.from({ length: c.batch }, (_, i) => (c.timestep ?? 750) - 100 * i), [c.batch], fp16),
  };
}

/** Output data as float32, whatever the tensor's dtype. */
function floats(t: ort.Tensor): Float32Array {
  if (t.type === 'float16') return fromF16Array(t.data as Uint16Array);
  assert.equal(t.type, 'float32');
  return t.data as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

// assert.ok without a message re-parses the source to describe a failure, which takes minutes
// under tsx; these helpers always carry a message with the numbers.
function below(value: number, limit: number, what: string): void {
  assert.ok(value <= limit, `${what}: ${value} > ${limit}`);
}

function above(value: number, limit: number, what: string): void {
  assert.ok(value > limit, `${what}: ${value} <= ${limit}`);
}

function assertFinite(a: Float32Array, what: string): void {
  assert.ok(a.every(Number.isFinite), `${what} has non-finite values`);
}

async function runDit(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const out = await s.run(feeds);
  return out[s.outputNames[0]];
}

function readPythonJson(file: string): Record<string, unknown> {
  // Python's json writes bare -Infinity/NaN; map them to strings for JSON.parse.
  const text = readFileSync(file, 'utf8').replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `"${m}"`));
  return JSON.parse(text) as Record<string, unknown>;
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const rel = path.join(prefix, name);
    return statSync(path.join(dir, name)).isDirectory() ? listFiles(path.join(dir, name), rel) : [rel];
  });
}

// ---------------------------------------------------------------------------------------------

describe('protobuf writer and fp16 helpers', () => {
  it('rounds float32 to float16 to nearest even and back', () => {
    assert.equal(f32ToF16Bits(1), 0x3c00);
    assert.equal(f32ToF16Bits(-2), 0xc000);
    assert.equal(f32ToF16Bits(65504), 0x7bff);
    assert.equal(f32ToF16Bits(70000), 0x7c00);
    assert.equal(f32ToF16Bits(2 ** -24), 0x0001);
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // halfway, rounds to even
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))), 'NaN survives');
    // Relative error ≤ 2^-11 for normal halves (≥ 2^-14); subnormals are absolute 2^-25.
    for (const v of [0.1, -3.75, 1000, 1e-3]) below(Math.abs(f16BitsToF32(f32ToF16Bits(v)) - v), Math.abs(v) * 2 ** -11, `f16 rounding of ${v}`);
    below(Math.abs(f16BitsToF32(f32ToF16Bits(1e-6)) - 1e-6), 2 ** -25, 'subnormal rounding');
  });

  it('writes a model ORT loads, with negative int attributes and symbolic dims', async () => {
    const bytes = encodeModel({
      irVersion: 8, producerName: 'test', opsetImports: [{ domain: '', version: 17 }],
      graph: {
        name: 'g', initializers: [],
        inputs: [{ name: 'x', elemType: 1, shape: ['n', 3] }],
        outputs: [{ name: 'y', elemType: 1, shape: ['n', 3] }],
        nodes: [{ opType: 'Softmax', inputs: ['x'], outputs: ['y'], attributes: [{ name: 'axis', value: { kind: 'int', value: -1 } }] }],
      },
    });
    const s = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
    const y = (await s.run({ x: new ort.Tensor('float32', Float32Array.from([0, 0, 0, 1, 1, 1]), [2, 3]) })).y;
    assert.deepEqual(Array.from(y.data as Float32Array, (v) => v.toFixed(4)), Array(6).fill('0.3333'));
    assert.deepEqual((s.inputMetadata[0] as ort.InferenceSession.TensorValueMetadata).shape, ['n', 3]);
    await s.release();
  });
});

for (const layout of ['sanagraph', 'optimum'] as const satisfies readonly Layout[]) {
  const L = LAYOUTS[layout];
  describe(`tiny models, ${layout} layout`, () => {
    let dir = '';
    before(async () => {
      dir = await generate({ layout, seed: 42 });
    });

    it('writes the expected files and configs', () => {
      const files = listFiles(dir);
      if (layout === 'sanagraph') {
        assert.deepEqual(files, ['pipeline.json', 'text_encoder.onnx', 'tokenizer.json', 'tokenizer_config.json', 'transformer.onnx', 'vae_decoder.onnx']);
        const p = JSON.parse(readFileSync(path.join(dir, 'pipeline.json'), 'utf8'));
        assert.equal(p.format, 'sanagraph/pipeline@1');
        assert.deepEqual(p.transformer, { onnx: 'transformer.onnx', latentChannels: 32, timestepScale: 1 });
        assert.deepEqual(p.vae, { onnx: 'vae_decoder.onnx', scalingFactor: 0.41407, spatialCompression: 32 });
        assert.equal(p.textEncoder.tokenizer, 'tokenizer.json');
        assert.ok(p.textEncoder.complexHumanInstruction.at(-1).endsWith('User Prompt: '), 'instruction ends with the prompt label');
        assert.deepEqual(p.defaults, { scheduler: 'flow_dpmpp_2m', steps: 20, guidanceScale: 4.5, flowShift: 3, width: 128, height: 128 });
      } else {
        assert.deepEqual(files, [
          'model_index.json', 'scheduler/scheduler_config.json',
          'text_encoder/config.json', 'text_encoder/model.onnx',
          'tokenizer/special_tokens_map.json', 'tokenizer/tokenizer.json', 'tokenizer/tokenizer_config.json',
          'transformer/config.json', 'transformer/model.onnx',
          'vae_decoder/config.json', 'vae_decoder/model.onnx', 'vae_encoder/config.json', 'vae_encoder/model.onnx',
        ]);
        const index = readPythonJson(path.join(dir, 'model_index.json'));
        assert.equal(index._class_name, 'SanaPipeline');
        assert.deepEqual(index.transformer, ['diffusers', 'SanaTransformer2DModel']);
        const schedulerText = readFileSync(path.join(dir, 'scheduler/scheduler_config.json'), 'utf8');
        assert.match(schedulerText, /"lambda_min_clipped": -Infinity,/);
        assert.match(schedulerText, /"flow_shift": 3\.0,/);
        const scheduler = readPythonJson(path.join(dir, 'scheduler/scheduler_config.json'));
        assert.equal(scheduler.prediction_type, 'flow_prediction');
        assert.equal(scheduler.use_flow_sigmas, true);
        const transformer = readPythonJson(path.join(dir, 'transformer/config.json'));
        assert.equal(transformer.in_channels, 32);
        assert.equal(transformer.caption_channels, 64);
        assert.equal(transformer.patch_size, 1);
        const vae = readPythonJson(path.join(dir, 'vae_decoder/config.json'));
        assert.equal(2 ** ((vae.decoder_block_out_channels as number[]).length - 1), 32);
        assert.equal(vae.scaling_factor, 0.41407);
        const te = readPythonJson(path.join(dir, 'text_encoder/config.json'));
        assert.equal(te.vocab_size, tinyTextEncoderVocabSize());
      }
      const total = files.filter((f) => f.endsWith('.onnx')).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
      assert.ok(total < 1.5e6, `models total ${total} bytes`);
    });

    it('declares the transformer I/O names, dtypes and ranks', async () => {
      const s = await session(path.join(dir, L.dit));
      assert.deepEqual(s.inputNames, [...L.ditInputs]);
      assert.deepEqual(s.outputNames, [L.ditOutput]);
      const meta = Object.fromEntries(s.inputMetadata.map((m) => [m.name, m as ort.InferenceSession.TensorValueMetadata]));
      assert.equal(meta.hidden_states.type, 'float32');
      assert.equal(meta.encoder_attention_mask.type, L.maskType);
      assert.deepEqual(meta.hidden_states.shape.length, 4);
      assert.equal(meta.hidden_states.shape[1], 32);
      assert.equal(meta.encoder_hidden_states.shape.length, 3);
      assert.equal(meta.encoder_hidden_states.shape[2], 64);
      assert.equal(meta.encoder_attention_mask.shape.length, 2);
      assert.equal(meta.timestep.shape.length, 1);
      // Dynamic axes are symbolic names, not numbers.
      assert.equal(typeof meta.hidden_states.shape[0], 'string');
      assert.equal(typeof meta.hidden_states.shape[2], 'string');
      assert.equal((s.outputMetadata[0] as ort.InferenceSession.TensorValueMetadata).shape.length, 4);
    });

    it('runs the transformer at batch 1 and 2 and two latent sizes', async () => {
      const s = await session(path.join(dir, L.dit));
      for (const batch of [1, 2]) {
        for (const [h, w] of [[4, 4], [8, 6]]) {
          const out = await runDit(s, ditFeeds({ batch, h, w, len: 8, validLen: 5 }, L.maskType));
          assert.deepEqual(out.dims, [batch, 32, h, w]);
          assertFinite(floats(out), `velocity b${batch} ${h}x${w}`);
        }
      }
    });

    it('runs the DC-AE decoder: [B,32,h,w] → [B,3,32h,32w], roughly in [-1, 1]', async () => {
      const s = await session(path.join(dir, L.vae));
      assert.deepEqual(s.inputNames, [L.vaeInput]);
      assert.deepEqual(s.outputNames, [L.vaeOutput]);
      for (const batch of [1, 2]) {
        for (const [h, w] of [[4, 4], [2, 3]]) {
          // The decoder sees latent / scaling_factor, so std ≈ 2.4.
          const latent = new ort.Tensor('float32', randomArray(batch * 32 * h * w, 3, 4), [batch, 32, h, w]);
          const img = (await s.run({ [L.vaeInput]: latent }))[L.vaeOutput];
          assert.deepEqual(img.dims, [batch, 3, 32 * h, 32 * w]);
          const data = floats(img);
          assertFinite(data, 'image');
          assert.ok(maxAbs(data) < 3, `image max |x| = ${maxAbs(data)}`);
          assert.ok(maxAbs(data) > 0.1, 'image is not all zero');
        }
      }
    });

    it('tokenizes and encodes text: [B,L] ids → [B,L,64], respecting the attention mask', async () => {
      const config = JSON.parse(readFileSync(path.join(dir, L.tokenizerConfig), 'utf8'));
      const tok = new Tokenizer(JSON.parse(readFileSync(path.join(dir, L.tokenizer), 'utf8')), config);
      const s = await session(path.join(dir, L.te));
      assert.deepEqual(s.inputNames, ['input_ids', 'attention_mask']);
      assert.deepEqual(s.outputNames, ['last_hidden_state']);
      const len = 16;
      const pad = (ids: number[]) => [...ids, ...Array(len - ids.length).fill(0)];
      const prompts = [TEST_PROMPT, 'a small cat'];
      const run = async (rows: number[][], masks: number[][]) => {
        const flat = (m: number[][]) => BigInt64Array.from(m.flat(), (v) => BigInt(v));
        const out = (await s.run({
          input_ids: new ort.Tensor('int64', flat(rows), [rows.length, len]),
          attention_mask: new ort.Tensor('int64', flat(masks), [rows.length, len]),
        })).last_hidden_state;
        return { dims: out.dims, data: floats(out) };
      };
      for (const batch of [1, 2]) {
        const encoded = prompts.slice(0, batch).map((p) => tok.encode(p).ids as number[]);
        const masks = encoded.map((ids) => pad(ids.map(() => 1)));
        const { dims, data } = await run(encoded.map(pad), masks);
        assert.deepEqual(dims, [batch, len, 64]);
        assertFinite(data, 'last_hidden_state');
      }

      // Masking token 1 changes what later tokens see, although the ids are the same.
      const ids = pad(tok.encode(TEST_PROMPT).ids as number[]);
      const full = pad(ids.map((v, i) => (i < 12 ? 1 : 0)));
      const base = await run([ids], [full]);
      const holed = await run([ids], [full.map((m, i) => (i === 1 ? 0 : m))]);
      const at = (d: Float32Array, pos: number) => d.subarray(pos * 64, pos * 64 + 64);
      above(maxAbsDiff(at(base.data, 5), at(holed.data, 5)), 1e-3, 'effect of masking token 1');
      // And a masked-out token's id does not leak into any other position.
      const swapped = await run([ids.map((v, i) => (i === 1 ? 7 : v))], [full.map((m, i) => (i === 1 ? 0 : m))]);
      for (const pos of [0, 2, 5, 11]) below(maxAbsDiff(at(holed.data, pos), at(swapped.data, pos)), 1e-6, `masked id leaking into position ${pos}`);
    });

    if (layout === 'optimum') {
      it('has a vae_encoder stub: sample → latent_sample', async () => {
        const s = await session(path.join(dir, 'vae_encoder/model.onnx'));
        assert.deepEqual(s.inputNames, ['sample']);
        assert.deepEqual(s.outputNames, ['latent_sample']);
        const out = (await s.run({ sample: new ort.Tensor('float32', randomArray(2 * 3 * 64 * 96, 4), [2, 3, 64, 96]) })).latent_sample;
        assert.deepEqual(out.dims, [2, 32, 2, 3]);
      });
    }
  });
}

describe('tiny transformer behaviour', () => {
  let dir = '';
  let dit: ort.InferenceSession;
  const run = async (c: DitCase) => floats(await runDit(dit, ditFeeds(c, 'float32')));
  before(async () => {
    dir = await generate({ layout: 'sanagraph', seed: 42 });
    dit = await session(path.join(dir, LAYOUTS.sanagraph.dit));
  });

  it('depends on the unmasked text', async () => {
    const c: DitCase = { batch: 2, h: 4, w: 4, len: 8, validLen: 5 };
    const text = textEmbeddings(c);
    const changed = text.slice();
    changed[2 * 64 + 7] += 1; // batch 0, position 2 (valid)
    const d = maxAbsDiff(await run({ ...c, text }), await run({ ...c, text: changed }));
    above(d, 1e-4, 'effect of one unmasked text value');
  });

  it('ignores text embeddings where the mask is 0', async () => {
    const c: DitCase = { batch: 2, h: 4, w: 4, len: 8, validLen: 5 };
    const text = textEmbeddings(c);
    const changed = text.slice();
    const r = mulberry32(9);
    for (let b = 0; b < 2; b++) {
      for (let p = 5; p < 8; p++) for (let k = 0; k < 64; k++) changed[(b * 8 + p) * 64 + k] = (r() * 2 - 1) * 50;
    }
    const d = maxAbsDiff(await run({ ...c, text }), await run({ ...c, text: changed }));
    below(d, 1e-6, 'effect of masked-out text');
  });

  it('uses the mask (same text, different mask → different output)', async () => {
    const c: DitCase = { batch: 1, h: 4, w: 4, len: 8 };
    const d = maxAbsDiff(await run({ ...c, validLen: 8 }), await run({ ...c, validLen: 3 }));
    above(d, 1e-4, 'effect of the mask');
  });

  it('depends on the timestep', async () => {
    const c: DitCase = { batch: 1, h: 4, w: 4, len: 8, validLen: 6 };
    const d = maxAbsDiff(await run({ ...c, timestep: 999 }), await run({ ...c, timestep: 500 }));
    above(d, 1e-3, 'effect of the timestep');
  });

  it('gives the same velocity in both layouts for the same seed (weights do not depend on layout)', async () => {
    const optimumDir = await generate({ layout: 'optimum', seed: 42 });
    const other = await session(path.join(optimumDir, LAYOUTS.optimum.dit));
    const c: DitCase = { batch: 2, h: 4, w: 6, len: 8, validLen: 5 };
    const a = await run(c);
    const b = floats(await runDit(other, ditFeeds(c, 'int64')));
    below(maxAbsDiff(a, b), 1e-5, 'sanagraph vs optimum velocity');
  });

  it('fp16 variant runs on Uint16Array tensors and stays close to fp32', async () => {
    const fp16Dir = await generate({ layout: 'sanagraph', seed: 42, fp16: true, textEncoder: false });
    const s16 = await session(path.join(fp16Dir, LAYOUTS.sanagraph.dit));
    for (const m of s16.inputMetadata) {
      assert.equal((m as ort.InferenceSession.TensorValueMetadata).type, 'float16', m.name);
    }
    for (const [batch, h, w] of [[1, 4, 4], [2, 8, 8]]) {
      const c: DitCase = { batch, h, w, len: 8, validLen: 6 };
      const feeds = ditFeeds(c, 'float16', true);
      assert.ok(feeds.hidden_states.data instanceof Uint16Array, 'fp16 feeds are Uint16Array');
      const out = await runDit(s16, feeds);
      assert.equal(out.type, 'float16');
      assert.ok(out.data instanceof Uint16Array, 'fp16 output is Uint16Array');
      assert.deepEqual(out.dims, [batch, 32, h, w]);
      const ref = await run(c);
      const half = floats(out);
      assertFinite(half, 'fp16 velocity');
      const err = maxAbsDiff(half, ref) / maxAbs(ref);
      below(err, 5e-3, `fp16 relative error at b${batch} ${h}x${w}`);
    }
  });

  it('accepts an int64 mask when asked', async () => {
    const intDir = await generate({ layout: 'sanagraph', seed: 42, maskDtype: 'int64', textEncoder: false });
    const s = await session(path.join(intDir, LAYOUTS.sanagraph.dit));
    const c: DitCase = { batch: 2, h: 4, w: 4, len: 8, validLen: 5 };
    below(maxAbsDiff(floats(await runDit(s, ditFeeds(c, 'int64'))), await run(c)), 1e-6, 'int64 vs float mask');
  });
});

describe('tiny model determinism', () => {
  it('same seed → identical bytes; different seed → different weights, same structure', async () => {
    for (const layout of ['sanagraph', 'optimum'] as const) {
      const a = await generate({ layout, seed: 7 });
      const b = await generate({ layout, seed: 7 });
      const c = await generate({ layout, seed: 8 });
      const files = listFiles(a);
      assert.deepEqual(listFiles(b), files);
      for (const f of files) {
        const fa = readFileSync(path.join(a, f));
        assert.ok(fa.equals(readFileSync(path.join(b, f))), `${layout}/${f} differs for the same seed`);
        const fc = readFileSync(path.join(c, f));
        if (f.endsWith('.onnx')) {
          assert.equal(fc.length, fa.length, `${f}: same structure, same size`);
          assert.ok(!fc.equals(fa), `${layout}/${f} is the same for a different seed`);
        } else {
          assert.ok(fc.equals(fa), `${layout}/${f} should not depend on the seed`);
        }
      }
    }
  });

  it('can leave out the text encoder', async () => {
    const dir = await generate({ layout: 'sanagraph', seed: 1, textEncoder: false });
    assert.deepEqual(listFiles(dir), ['pipeline.json', 'transformer.onnx', 'vae_decoder.onnx']);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'pipeline.json'), 'utf8')).textEncoder, null);
    const opt = await generate({ layout: 'optimum', seed: 1, textEncoder: false });
    assert.ok(!listFiles(opt).some((f) => f.startsWith('text_encoder/') || f.startsWith('tokenizer/')), 'no text encoder files');
    assert.deepEqual(readPythonJson(path.join(opt, 'model_index.json')).text_encoder, [null, null]);
  });
});

describe('tiny tokenizer', () => {
  let tok: Tokenizer;
  before(async () => {
    const dir = await generate({ layout: 'sanagraph', seed: 1 });
    const json = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
    // @huggingface/tokenizers 0.2.0 builds WordLevel as its "Legacy" model, which takes the unknown
    // token from this config (tokenizer_config.json), not from model.unk_token; with `{}` unknown
    // words come back as `undefined` ids.
    const config = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    assert.equal(config.unk_token, '<unk>');
    tok = new Tokenizer(json, config);
  });

  it('gives fixed ids for the test sentence, with a leading <bos>', () => {
    assert.deepEqual(tok.encode(TEST_PROMPT).ids, [2, 4, 5, 6, 7, 8, 9, 10, 11, 4, 12, 13]);
    assert.deepEqual(tok.encode('A Large RED circle').ids, [2, 4, 5, 6, 7]);
    assert.deepEqual(tok.encode(TEST_PROMPT, { add_special_tokens: false }).ids.length, 11);
  });

  it('maps unknown words to <unk> (3)', () => {
    assert.deepEqual(tok.encode('a zebra circle').ids, [2, 4, 3, 7]);
    assert.equal(tok.token_to_id('<pad>'), 0);
    assert.equal(tok.token_to_id('<eos>'), 1);
    assert.equal(tok.token_to_id('<bos>'), 2);
    assert.equal(tok.token_to_id('<unk>'), 3);
  });

  it("covers diffusers' complex human instruction, within the text encoder's vocabulary", () => {
    const ids = tok.encode(DIFFUSERS_COMPLEX_HUMAN_INSTRUCTION.join('\n') + TEST_PROMPT).ids as number[];
    assert.ok(!ids.includes(3), 'no unknown words');
    above(ids.length, 100, 'instruction length in tokens');
    below(Math.max(...ids), tinyTextEncoderVocabSize() - 1, 'largest id');
    assert.ok(tok.get_vocab().size >= 300, 'a few hundred words');
  });
});
