import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { defineNode, socket, type Float32Tensor } from '../engine/index.ts';
import { toBytes } from '../nodes/image-io.ts';
import { IMAGE } from '../nodes/types.ts';
import { judge, type Judgement } from './demo-judge.ts';
import { pipelineEngine } from './tiny-fixtures.ts';

/**
 * The quality gate of the shipped demo model (models/demo): for the combinations held out from
 * its training, generate with the engine (Sampler with the pipeline's default scheduler, 20 steps,
 * fixed seeds) and judge colour, background, position and shape. A wrong scheduler, a flipped
 * guidance sign or a bad latent scaling makes these numbers collapse.
 */
const DEMO = 'models/demo';
const defaults = JSON.parse(readFileSync(`${DEMO}/pipeline.json`, 'utf8')).defaults as { scheduler: string; flowShift: number };
const heldOut = (JSON.parse(readFileSync('tests/fixtures/demo-held-out.json', 'utf8')) as
  { combos: { fg: string; shape: string; position: string; bg: string }[] }).combos;
const SIZES = ['small', '', 'large'];
const prompts = heldOut.map((c, i) => ({ ...c, text: `a ${SIZES[i % 3] ? `${SIZES[i % 3]} ` : ''}${c.fg} ${c.shape} ${c.position} on a ${c.bg} background` }));

const { engine, services } = pipelineEngine();
after(() => services.models.close());
const captured = new Map<string, Float32Tensor>();
engine.registry.register([defineNode({
  type: 'CaptureImage', category: 'test', description: 'keeps the decoded image for the judge', output: true,
  inputs: { images: socket(IMAGE) }, outputs: [],
  run: ({ images }, ctx) => { captured.set(ctx.promptId, images); return {}; },
})], 'tests/demo-quality.test.ts');

async function generate(text: string, seed: number, guidance: number): Promise<Judgement> {
  const promptId = `${text}|${seed}|${guidance}`;
  const result = await engine.execute({ format: 'sanagraph/workflow@1', nodes: {
    1: { type: 'LoadPipeline', inputs: { path: `${process.cwd()}/${DEMO}`, device: 'cpu' } },
    2: { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text, complex_human_instruction: false } },
    3: { type: 'TextEncode', inputs: { text_encoder: ['1', 1], text: '', complex_human_instruction: false } },
    4: { type: 'LatentInit', inputs: { width: 128, height: 128, seed } },
    5: { type: 'Sampler', inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent: ['4', 0], steps: 20,
      guidance_scale: guidance, scheduler: defaults.scheduler, flow_shift: defaults.flowShift } },
    6: { type: 'DCAEDecode', inputs: { vae: ['1', 2], latent: ['5', 0] } },
    7: { type: 'CaptureImage', inputs: { images: ['6', 0] } },
  } }, { promptId });
  assert.equal(result.status, 'success', result.error?.exception_message);
  const image = captured.get(promptId)!;
  return judge(toBytes(image, 0), image.dims[2], image.dims[1]);
}

interface Score { fg: number; bg: number; position: number; shape: number; all: number }

async function score(guidance: number): Promise<Score> {
  const s = { fg: 0, bg: 0, position: 0, shape: 0, all: 0 };
  for (const [i, p] of prompts.entries()) {
    const j = await generate(p.text, 1000 + i, guidance);
    s.fg += Number(j.fg === p.fg);
    s.bg += Number(j.bg === p.bg);
    s.position += Number(j.position === p.position);
    s.shape += Number(j.shape === p.shape);
    s.all += Number(j.fg === p.fg && j.bg === p.bg && j.position === p.position);
  }
  const n = prompts.length;
  return { fg: s.fg / n, bg: s.bg / n, position: s.position / n, shape: s.shape / n, all: s.all / n };
}

const percent = (s: Score) => Object.entries(s).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ');

describe('the demo model follows its prompts', () => {
  it(`on ${prompts.length} held-out combinations, with guidance 4.5 and not worse than without`, async (t) => {
    const guided = await score(4.5);
    const plain = await score(1.0);
    t.diagnostic(`held-out, guidance 4.5: ${percent(guided)}`);
    t.diagnostic(`held-out, guidance 1.0: ${percent(plain)}`);
    assert.ok(prompts.length >= 40);
    assert.ok(guided.fg >= 0.9, `foreground colour ${guided.fg}`);
    assert.ok(guided.bg >= 0.95, `background ${guided.bg}`);
    assert.ok(guided.position >= 0.9, `position ${guided.position}`);
    assert.ok(guided.fg + guided.bg + guided.position >= plain.fg + plain.bg + plain.position,
      `guidance 4.5 (${percent(guided)}) scores lower than 1.0 (${percent(plain)})`);
  });

  it('understands loosely written prompts', async () => {
    const j = await generate('  An LARGE Red circle, in the Centre on a BLUE background.  ', 7, 4.5);
    assert.deepEqual([j.fg, j.bg, j.position], ['red', 'blue', 'in the center']);
    const unknown = await generate('a large yellow square on the left on a black background, very pretty', 8, 4.5);
    assert.deepEqual([unknown.fg, unknown.bg, unknown.position], ['yellow', 'black', 'on the left']);
  });
});
