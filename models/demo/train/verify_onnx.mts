// Checks the exported demo model from Node, the way the engine runs it:
//   1. tokenizer.json through nodes/tokenizer.ts gives the ids Python trained with (loose prompts included);
//   2. each ONNX file in onnxruntime-node matches torch's outputs (parity cases written by export.py);
//   3. optionally (--e2e), runs the engine CLI on a workflow per reference prompt and compares the PNGs with the
//      images Python sampled with the same prompt, seed and scheduler.
// Run from the repository root: node --import tsx models/demo/train/verify_onnx.mts /tmp/sg-demo-parity [--e2e]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decode } from 'fast-png';
import * as ort from 'onnxruntime-node';
import { parseNpy } from '../../../engine/tensor-files.ts';
import { TextTokenizer, tokenizePrompt } from '../../../nodes/tokenizer.ts';

const dir = process.argv[2] ?? '/tmp/sg-demo-parity';
const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const modelDir: string = manifest.modelDir;
let failures = 0;

const readNpy = (file: string) => parseNpy(readFileSync(file), file);

// 1. tokenizer
const tok = await TextTokenizer.load(path.join(modelDir, 'tokenizer.json'));
for (const c of manifest.tokenizer as { text: string; ids: number[]; mask: number[] }[]) {
  const t = tokenizePrompt(tok, c.text, manifest.maxLength, null);
  const ok = JSON.stringify(t.ids) === JSON.stringify(c.ids) && JSON.stringify(t.mask) === JSON.stringify(c.mask);
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} tokenizer ${JSON.stringify(c.text)} -> ${JSON.stringify(t.ids)}${ok ? '' : ` (python ${JSON.stringify(c.ids)})`}`);
}

// 2. ONNX parity
for (const c of manifest.cases as { name: string; model: string; inputs: Record<string, string>; outputs: Record<string, string> }[]) {
  const session = await ort.InferenceSession.create(c.model, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, file] of Object.entries(c.inputs)) {
    const { dtype, dims, data } = readNpy(path.join(dir, file));
    feeds[name] = new ort.Tensor(dtype as 'float32', data as Float32Array, [...dims]);
  }
  const out = await session.run(feeds);
  for (const [name, file] of Object.entries(c.outputs)) {
    const want = readNpy(path.join(dir, file));
    const got = out[name];
    const a = got.data as Float32Array;
    const b = want.data as Float32Array;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < b.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      maxAbs = Math.max(maxAbs, Math.abs(b[i]));
    }
    const ok = JSON.stringify(got.dims) === JSON.stringify(want.dims) && maxDiff < 1e-3;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${c.name} ${name} [${got.dims.join(',')}] max |onnx - torch| = ${maxDiff.toExponential(2)} (max |torch| ${maxAbs.toFixed(2)})`);
  }
  await session.release();
}

// 3. engine end to end
if (process.argv.includes('--e2e')) {
  const work = path.join(dir, 'e2e');
  mkdirSync(work, { recursive: true });
  const e2e = manifest.e2e as { prompt: string; seed: number; image: string }[];
  e2e.forEach((c, i) => {
    const wf = {
      format: 'sanagraph/workflow@1',
      nodes: {
        '1': { type: 'LoadPipeline', inputs: { path: modelDir, device: 'cpu' } },
        '2': { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text: c.prompt, complex_human_instruction: false } },
        '3': { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text: '', complex_human_instruction: false } },
        '4': { type: 'LatentInit', inputs: { width: 128, height: 128, batch_size: 1, seed: c.seed, channels: 32, spatial_compression: 32 } },
        '5': { type: 'Sampler', inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent: ['4', 0], steps: 20, guidance_scale: 4.5, scheduler: manifest.scheduler, flow_shift: manifest.shift } },
        '6': { type: 'DCAEDecode', inputs: { vae: ['1', 2], latent: ['5', 0] } },
        '7': { type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: `e2e-${i}` } },
      },
    };
    writeFileSync(path.join(work, `e2e-${i}.json`), JSON.stringify(wf, null, 1));
    execFileSync('node', ['bin/sanagraph.js', 'run', path.join(work, `e2e-${i}.json`), '--output-dir', work], { stdio: 'inherit' });
    const png = readdirSync(work).filter((f) => f.startsWith(`e2e-${i}_`) && f.endsWith('.png')).sort().at(-1)!;
    const img = decode(readFileSync(path.join(work, png)));
    const ref = readNpy(path.join(dir, c.image)).data as Uint8Array;
    let maxDiff = 0;
    let sum = 0;
    for (let k = 0; k < ref.length; k++) {
      const d = Math.abs(img.data[k] - ref[k]);
      maxDiff = Math.max(maxDiff, d);
      sum += d;
    }
    const ok = maxDiff <= 3;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} engine vs python "${c.prompt}" seed ${c.seed}: ${png}, max |diff| ${maxDiff}/255, mean ${(sum / ref.length).toFixed(3)}`);
  });
}

console.log(failures ? `${failures} check(s) FAILED` : 'all checks passed');
process.exit(failures ? 1 : 0);
