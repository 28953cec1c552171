import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ModelLoadError, ModelManager } from '../engine/onnx/model-manager.ts';
import { float32 } from '../engine/tensor.ts';
import { tempDir } from './helpers.ts';
import { tinyModels } from './tiny-fixtures.ts';

function logger() {
  const lines: string[] = [];
  const log = (m: string) => { lines.push(m); };
  return { lines, logger: { debug: log, info: log, warn: log, error: log } };
}

describe('model manager', () => {
  it('loads on its own device what is asked for on `auto` (--device), and an explicit device as asked', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const mm = new ModelManager({ logger: logger().logger, sessions: 'here', device: 'cpu' });
    try {
      const onAuto = await mm.load(path.join(dir, 'vae_decoder.onnx'), 'auto');
      assert.deepEqual([onAuto.device, onAuto.provider], ['cpu', 'cpu']);
      assert.equal(await mm.load(path.join(dir, 'vae_decoder.onnx'), 'cpu'), onAuto, 'the same session as an explicit cpu load');
    } finally {
      await mm.close();
    }
    const gpu = new ModelManager({ logger: logger().logger, sessions: 'here', device: 'webgpu' });
    try {
      const explicit = await gpu.load(path.join(dir, 'vae_decoder.onnx'), 'cpu');
      assert.deepEqual([explicit.device, explicit.provider], ['cpu', 'cpu'], 'a workflow that names a device keeps it');
    } finally {
      await gpu.close();
    }
  });

  for (const sessions of ['worker', 'here'] as const) {
    it(`keeps sessions loaded, unloads the least recently used beyond its budget, reloads on use (sessions: ${sessions})`, async () => {
      const dir = await tinyModels({ layout: 'sanagraph' });
      const [dit, vae, te] = ['transformer.onnx', 'vae_decoder.onnx', 'text_encoder.onnx'].map((f) => path.join(dir, f));
      const log = logger();
      const budget = statSync(dit).size + statSync(vae).size + 1000; // two of the three fit
      const mm = new ModelManager({ logger: log.logger, budgetBytes: budget, sessions });
      try {
        const a = await mm.load(dit, 'cpu');
        assert.equal(await mm.load(dit, 'cpu'), a, 'loaded once, then reused');
        await mm.load(vae, 'cpu');
        await mm.load(te, 'cpu');
        assert.deepEqual(mm.loaded().map((m) => path.basename(m.path)), ['vae_decoder.onnx', 'text_encoder.onnx']);
        assert.ok(log.lines.some((l) => /unloading .*transformer\.onnx \(cpu\) to stay within the model memory budget/.test(l)));
        const out = await mm.run(a, {
          hidden_states: float32([1, 32, 2, 2]), encoder_hidden_states: float32([1, 3, 64]),
          encoder_attention_mask: float32([1, 3], Float32Array.of(1, 1, 0)), timestep: float32([1], Float32Array.of(500)),
        });
        assert.deepEqual(Object.values(out.outputs)[0].dims, [1, 32, 2, 2], 'the unloaded model was loaded again to run');
        assert.ok(mm.loaded().some((m) => m.path === dit));
        await mm.free();
        assert.deepEqual(mm.loaded(), []);
      } finally {
        await mm.close();
      }
    });
  }

  it('sees the current contents and dims of an input array reused between runs (sessions: here)', async () => {
    // The session store keeps the ORT tensor of an uncast input by its data array (a scratch
    // array reused every step): a changed content or shape must still reach ONNX Runtime.
    const vae = path.join(await tinyModels({ layout: 'sanagraph' }), 'vae_decoder.onnx');
    const mm = new ModelManager({ logger: logger().logger, sessions: 'here' });
    try {
      const model = await mm.load(vae, 'cpu');
      const decode = async (dims: number[], data: Float32Array) => Object.values((await mm.run(model, { latent: float32(dims, data) })).outputs)[0];
      const shared = new Float32Array(32 * 2 * 2).fill(0.5);
      const first = await decode([1, 32, 2, 2], shared);
      shared.fill(-1);
      const changed = await decode([1, 32, 2, 2], shared);
      const fresh = await decode([1, 32, 2, 2], new Float32Array(32 * 2 * 2).fill(-1));
      assert.notDeepEqual(changed.data, first.data, 'new contents, new image');
      assert.deepEqual(changed.data, fresh.data, 'as if the array were new');
      const reshaped = await decode([1, 32, 1, 4], shared);
      assert.deepEqual(reshaped.dims, [1, 3, 32, 128], 'the new dims reach the model');
    } finally {
      await mm.close();
    }
  });

  it('logs each auto fallback once, and does not fall back for a broken model file', async () => {
    const dir = await tinyModels({ layout: 'sanagraph' });
    const log = logger();
    const mm = new ModelManager({ logger: log.logger });
    try {
      const model = await mm.load(path.join(dir, 'vae_decoder.onnx'), 'auto');
      assert.equal(model.provider, 'cpu');
      await mm.load(path.join(dir, 'transformer.onnx'), 'auto');
      assert.ok(log.lines.filter((l) => l.startsWith('device auto: cuda unavailable')).length <= 1, log.lines.join('\n'));
      const broken = path.join(tempDir(), 'broken.onnx');
      writeFileSync(broken, 'not a model');
      await assert.rejects(mm.load(broken, 'auto'), (e: unknown) => e instanceof ModelLoadError && /cannot load .*broken\.onnx: .*protobuf parsing failed/i.test((e as Error).message));
      await assert.rejects(mm.load(path.join(dir, 'missing.onnx'), 'cpu'), /model file .*missing\.onnx does not exist/);
    } finally {
      await mm.close();
    }
  });
});
