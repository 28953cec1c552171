import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { add, div, elementwise, mul, pmax, pmin, sub } from '../engine/elementwise.ts';
import { addElementwise } from '../engine/onnx/elementwise-graph.ts';
import { GraphBuilder } from '../engine/onnx/graph-builder.ts';

/** Element-wise kernels as ONNX graphs (what the device loop runs): the host kernel's results, bit for bit on the CPU provider. */
describe('element-wise kernels as ONNX graphs', () => {
  it('computes every output of a kernel as the WebAssembly kernel does, with shared values and constants', async () => {
    const kernel = elementwise({ name: 'mixed', inputs: ['x', 'y'], scalars: ['s', 't'] }, ({ x, y, s, t }) => {
      const shared = sub(mul(s, x), y); // used by both outputs
      return [add(shared, div(y, t)), pmin(pmax(mul(shared, 0.5), -1), 1)];
    });
    const n = 1000;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const y = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7) + 0.01);
    const scalars = [1.7, -0.3];

    const g = new GraphBuilder({ seed: 0, name: 'mixed' });
    g.input('x', 'float32', [n]);
    g.input('y', 'float32', [n]);
    g.input('s', 'float32', [1]);
    g.input('t', 'float32', [1]);
    const outs = addElementwise(g, kernel, { x: 'x', y: 'y' }, { s: 's', t: 't' });
    outs.forEach((v, i) => g.output(v, `out${i}`, 'float32', [n]));
    const nodes = g.build().graph.nodes;
    assert.equal(nodes.filter((node) => node.opType === 'Mul').length, 2, 'the shared value is computed once (s·x, then ·0.5)');
    assert.deepEqual(nodes.filter((node) => node.opType !== 'Identity').map((node) => node.opType).sort(), ['Add', 'Div', 'Max', 'Min', 'Mul', 'Mul', 'Sub']);
    const bytes = g.toBytes();

    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
    const feeds = {
      x: new ort.Tensor('float32', x, [n]), y: new ort.Tensor('float32', y, [n]),
      s: new ort.Tensor('float32', Float32Array.of(scalars[0]), [1]), t: new ort.Tensor('float32', Float32Array.of(scalars[1]), [1]),
    };
    const result = await session.run(feeds);
    const expected = kernel.run([x, y], scalars);
    for (let k = 0; k < 2; k++) assert.deepEqual(Array.from(result[`out${k}`].data as Float32Array), Array.from(expected[k]), `output ${k}`);
    await session.release();
  });

  it('says which value it has no graph input for', () => {
    const kernel = elementwise({ name: 'scaled', inputs: ['x'], scalars: ['k'] }, ({ x, k }) => [mul(x, k)]);
    const g = new GraphBuilder({ seed: 0 });
    g.input('x', 'float32', [4]);
    assert.throws(() => addElementwise(g, kernel, { x: 'x' }), /scaled: no graph value for scalar "k"/);
  });
});
