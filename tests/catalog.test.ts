import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNodes } from '../engine/index.ts';
import { makeEngine } from './helpers.ts';

describe('node catalog (/object_info shape)', () => {
  const info = describeNodes(makeEngine().registry);

  it('describes widgets with ComfyUI widget specs', () => {
    const math = info.MathInt;
    assert.deepEqual(math.input.required.a, ['INT', { step: 1, default: 0 }]);
    assert.deepEqual(math.input.required.op, [['add', 'subtract', 'multiply', 'divide', 'modulo', 'min', 'max'], { default: 'add' }]);
    assert.deepEqual(math.input_order, { required: ['a', 'b', 'op'], optional: [] });
    assert.deepEqual([math.output, math.output_name, math.output_is_list], [['INT'], ['INT'], [false]]);
    assert.equal(math.category, 'utils/math');
    assert.equal(math.output_node, false);
    assert.deepEqual(info.PrimitiveString.input.required.value, ['STRING', { multiline: true, default: '' }]);
  });

  it('lists sockets, optional inputs and output nodes', () => {
    const sink = info.Sink;
    assert.deepEqual(sink.input.required.x, ['*', {}]);
    assert.deepEqual(sink.input.optional.label, ['STRING', { multiline: false }]);
    assert.equal(sink.output_node, true);
    assert.equal(sink.python_module, 'tests/helpers.ts');
    assert.deepEqual(info.Const.input.required.value, ['INT', { step: 1, default: 0, min: -1000, max: 1000 }]);
  });
});
