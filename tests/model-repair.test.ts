import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DeviceUnavailableError, ModelLoadError, ModelManager } from '../engine/onnx/model-manager.ts';
import { prepareModel } from '../engine/onnx/model-repair.ts';
import { float32, tensor, type Tensor } from '../engine/tensor.ts';
import { GraphBuilder } from '../engine/onnx/graph-builder.ts';
import { DataType, encodeModel, ProtoWriter, type ModelProto } from '../engine/onnx/protobuf-writer.ts';
import { tempDir } from './helpers.ts';

function logger() {
  const lines: string[] = [];
  const log = (m: string) => { lines.push(m); };
  return { lines, logger: { debug: log, info: log, warn: log, error: log } };
}

type Perms = readonly [readonly number[], readonly number[]];
/** What TorchScript writes for DC-AE's channels-last norms (`movedim(1, -1)` and back)… */
const NEGATIVE: Perms = [[0, -2, -1, 1], [0, -1, 1, 2]];
/** …and what it means. */
const POSITIVE: Perms = [[0, 2, 3, 1], [0, 3, 1, 2]];

/**
 * A decoder shaped like DC-AE's: conv, a norm over channels-last (Transpose there and back),
 * conv, pixel shuffle. The same seed gives the same weights whatever the perms.
 */
function decoder(perms: Perms): ModelProto {
  const g = new GraphBuilder({ seed: 11, name: 'vae_decoder' });
  const latent = g.input('latent', 'float32', [1, 4, 'h', 'w']);
  let x = g.conv2d(latent, 4, 8, 3, { name: 'conv_in' });
  // op1, not transpose(): the perm must reach the file as written.
  x = g.op1('Transpose', [x], { perm: perms[0] });
  x = g.layerNorm(x, 8, 1e-6, { name: 'norm' });
  x = g.op1('Transpose', [x], { perm: perms[1] });
  x = g.conv2d(g.silu(x), 8, 12, 3, { name: 'conv_out' });
  x = g.op1('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' });
  g.output(x, 'sample', 'float32', [1, 3, 'H', 'W']);
  return g.build();
}

const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

/**
 * Protobuf merges a message field that occurs twice, so what our writer cannot express (external
 * data, graph attributes) is written as a second `graph` field appended to the model.
 */
function withGraphPart(model: Uint8Array, part: (graph: ProtoWriter) => void): Uint8Array {
  return concat(model, new ProtoWriter().message(7, part).finish());
}

/** The model with its weights in `<name>_data` beside it, as exporters write large models. */
function writeWithExternalData(dir: string, name: string, m: ModelProto): string {
  const external = m.graph.initializers.filter((t) => t.rawData.length >= 64);
  const inline = m.graph.initializers.filter((t) => !external.includes(t));
  const data: Uint8Array[] = [];
  let offset = 0;
  const bytes = withGraphPart(encodeModel({ ...m, graph: { ...m.graph, initializers: inline } }), (g) => {
    for (const t of external) {
      g.message(5, (w) => {
        w.packedInts(1, t.dims).int(2, t.dataType).string(8, t.name);
        const entries = { location: `${name}_data`, offset: String(offset), length: String(t.rawData.length) };
        for (const [key, value] of Object.entries(entries)) w.message(13, (e) => e.string(1, key).string(2, value));
        w.int(14, 1); // data_location: EXTERNAL
      });
      data.push(t.rawData);
      offset += t.rawData.length;
    }
  });
  writeFileSync(path.join(dir, `${name}_data`), concat(...data));
  return write(dir, name, bytes);
}

function write(dir: string, name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

const latent = float32([1, 4, 3, 5], Float32Array.from({ length: 60 }, (_, i) => Math.sin(i * 0.7)));

async function decode(mm: ModelManager, file: string, feeds: Record<string, Tensor> = { latent }): Promise<Tensor> {
  const model = await mm.load(file, 'cpu');
  return Object.values((await mm.run(model, feeds)).outputs)[0];
}

describe('model repair', () => {
  it('loads a decoder whose Transpose perms have negative entries, as the same model with the entries counted from the end', async () => {
    const dir = tempDir();
    const broken = write(dir, 'broken.onnx', encodeModel(decoder(NEGATIVE)));
    const good = write(dir, 'good.onnx', encodeModel(decoder(POSITIVE)));
    await assert.rejects(ort.InferenceSession.create(broken), /Invalid attribute perm/, 'ONNX Runtime refuses the export as it is');

    const prepared = prepareModel(broken);
    assert.deepEqual(prepared.bytes, encodeModel(decoder(POSITIVE)), 'only the perms changed; every other byte was copied');
    assert.deepEqual(prepareModel(good), { path: good }, 'a model without defects loads from its path, untouched');

    for (const sessions of ['worker', 'here'] as const) {
      const log = logger();
      const mm = new ModelManager({ logger: log.logger, sessions });
      try {
        const repaired = await decode(mm, broken);
        assert.deepEqual(repaired.dims, [1, 3, 6, 10]);
        assert.deepEqual(repaired, await decode(mm, good), `the same image (sessions: ${sessions})`);
        assert.deepEqual(log.lines, [`repaired 2 Transpose nodes with negative perm entries in ${broken}`]);
      } finally {
        await mm.close();
      }
    }
  });

  it('repairs a model whose weights are external data, which ONNX Runtime still finds', async () => {
    const dir = tempDir();
    const broken = writeWithExternalData(dir, 'model.onnx', decoder(NEGATIVE));
    const good = write(dir, 'good.onnx', encodeModel(decoder(POSITIVE)));
    const prepared = prepareModel(broken);
    assert.ok(prepared.bytes, 'repaired');
    // From bytes, ONNX Runtime looks for model.onnx_data in the working directory (the repository
    // here) and refuses; the session store tells it the model's folder.
    await assert.rejects(ort.InferenceSession.create(prepared.bytes), /external data/i);
    const mm = new ModelManager({ logger: logger().logger, sessions: 'here' });
    try {
      assert.deepEqual(await decode(mm, broken), await decode(mm, good));
    } finally {
      await mm.close();
    }
  });

  it('repairs Transpose nodes in the branches of an If, with perm written unpacked as onnx (proto2) writes it', async () => {
    const g = new GraphBuilder({ seed: 1 });
    g.input('x', 'float32', [1, 2, 3, 4]);
    g.input('cond', 'bool', []);
    g.output('y', 'y', 'float32', [1, 4, 2, 3]);
    const branch = (w: ProtoWriter, name: string, perm: readonly number[]) => {
      w.message(1, (n) => {
        n.string(1, 'x').string(2, name).string(3, `${name}_transpose`).string(4, 'Transpose');
        n.message(5, (a) => {
          a.string(1, 'perm');
          for (const p of perm) a.int(8, p);
          a.int(20, 7); // INTS
        });
      });
      w.string(2, `${name}_graph`);
      w.message(12, (v) => v.string(1, name).message(2, (t) => t.message(1, (tt) => tt.int(1, DataType.FLOAT).message(2, (s) => {
        for (const d of [1, 4, 2, 3]) s.message(1, (dim) => dim.int(1, d));
      }))));
    };
    const bytes = withGraphPart(g.toBytes(), (graph) => graph.message(1, (n) => {
      n.string(1, 'cond').string(2, 'y').string(3, 'choose').string(4, 'If');
      n.message(5, (a) => a.string(1, 'then_branch').message(6, (b) => branch(b, 'then_y', [0, -1, 1, 2])).int(20, 5));
      n.message(5, (a) => a.string(1, 'else_branch').message(6, (b) => branch(b, 'else_y', [-4, -1, -3, -2])).int(20, 5));
    }));
    const file = write(tempDir(), 'if.onnx', bytes);
    await assert.rejects(ort.InferenceSession.create(file), /perm/);

    const x = float32([1, 2, 3, 4], Float32Array.from({ length: 24 }, (_, i) => i));
    const expected = new Float32Array(24); // x transposed by [0, 3, 1, 2]
    for (let c = 0; c < 2; c++) for (let h = 0; h < 3; h++) for (let w = 0; w < 4; w++) expected[w * 6 + c * 3 + h] = x.data[c * 12 + h * 4 + w] as number;
    const log = logger();
    const mm = new ModelManager({ logger: log.logger, sessions: 'here' });
    try {
      for (const cond of [1, 0]) {
        const y = await decode(mm, file, { x, cond: tensor('bool', [], Uint8Array.of(cond)) });
        assert.deepEqual([y.dims, y.data], [[1, 4, 2, 3], expected], `branch ${cond ? 'then' : 'else'}`);
      }
      assert.deepEqual(log.lines, [`repaired 2 Transpose nodes with negative perm entries in ${file}`]);
    } finally {
      await mm.close();
    }
  });

  it('refuses a perm that is no permutation even counted from the end, naming the node: a model error, not a device one', async () => {
    const file = write(tempDir(), 'duplicate.onnx', encodeModel(decoder([[0, -1, 3, 2], POSITIVE[1]])));
    const message = /invalid model: Transpose node 1 "Transpose_\d+" has perm \[0,-1,3,2\] \(with negative entries counted from the end: \[0,3,3,2\]\), which is not a permutation of 0\.\.3/;
    assert.throws(() => prepareModel(file), message);
    const mm = new ModelManager({ logger: logger().logger });
    try {
      await assert.rejects(mm.load(file, 'cpu'), (e: unknown) =>
        e instanceof ModelLoadError && !(e instanceof DeviceUnavailableError) && message.test((e as Error).message) && (e as Error).message.startsWith(`cannot load ${file}: `));
    } finally {
      await mm.close();
    }
  });

  it('finds nothing to repair in the shipped demo models (and leaves what is not a model to ONNX Runtime)', () => {
    for (const name of ['text_encoder.onnx', 'transformer.onnx', 'vae_decoder.onnx']) {
      const file = path.join(import.meta.dirname, '..', 'models', 'demo', name);
      assert.deepEqual(prepareModel(file), { path: file });
    }
    const notModel = write(tempDir(), 'broken.onnx', new TextEncoder().encode('not a model'));
    assert.deepEqual(prepareModel(notModel), { path: notModel });
    assert.deepEqual(prepareModel('/nonexistent/model.onnx'), { path: '/nonexistent/model.onnx' });
  });
});
