import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineNode, int, WorkflowValidationError } from '../engine/index.ts';
import { BLOB, makeEngine, workflow } from './helpers.ts';

function engineWithSteps() {
  const engine = makeEngine();
  engine.registry.register([defineNode({
    type: 'Steps', category: 'test', description: 'has a bounded widget', output: true,
    inputs: { steps: int({ min: 1, max: 1000 }) }, outputs: [],
    run: () => ({}),
  })], 'tests/validation.test.ts');
  return engine;
}

const codes = (problems: { code: string }[]) => problems.map((p) => p.code);

describe('validation', () => {
  it('accepts a valid workflow and fills in widget defaults', () => {
    const engine = makeEngine();
    const v = engine.validate(workflow({ 1: { type: 'Const' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.graph.get('1')!.literals, { value: 0 });
    assert.deepEqual(v.order, ['1', '2']);
  });

  it('names the closest known types for an unknown node type', () => {
    const v = makeEngine().validate(workflow({ 1: { type: 'Cosnt' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.deepEqual(codes(v.problems), ['unknown_node_type']);
    assert.equal(v.problems[0].nodeId, '1');
    assert.match(v.problems[0].message, /unknown node type "Cosnt" \(did you mean "Const"/);
  });

  it('reports a missing required input, socket or widget', () => {
    const engine = engineWithSteps();
    const v = engine.validate(workflow({ 1: { type: 'Sink' }, 2: { type: 'Steps' } }));
    assert.deepEqual(v.problems.map((p) => [p.nodeId, p.input, p.code]), [['1', 'x', 'missing_input'], ['2', 'steps', 'missing_input']]);
    assert.match(v.problems[0].message, /not connected: link a \* output/);
    assert.match(v.problems[1].message, /expected an integer between 1 and 1000/);
  });

  it('explains a literal that fails its schema, with the constraint and the value', () => {
    const v = engineWithSteps().validate(workflow({ 1: { type: 'Steps', inputs: { steps: 0 } } }));
    assert.deepEqual(v.problems, [{ nodeId: '1', nodeType: 'Steps', input: 'steps', code: 'invalid_value',
      message: 'steps must be an integer between 1 and 1000, got 0' }]);
    const v2 = engineWithSteps().validate(workflow({ 1: { type: 'Steps', inputs: { steps: 2.5 } } }));
    assert.equal(v2.problems[0].message, 'steps must be an integer between 1 and 1000, got 2.5');
  });

  it('rejects a literal on a socket whose type cannot check it, accepts one that can', () => {
    const engine = makeEngine();
    engine.registry.register([defineNode({
      type: 'TakesBlob', category: 'test', description: '', output: true,
      inputs: { blob: { kind: 'socket', type: BLOB.name, optional: false } }, outputs: [], run: () => ({}),
    })], 'test');
    const v = engine.validate(workflow({ 1: { type: 'TakesBlob', inputs: { blob: 5 } }, 2: { type: 'SaveText', inputs: { text: 'hi' } } }));
    assert.deepEqual(v.problems.map((p) => [p.nodeId, p.code]), [['1', 'invalid_value']]);
    assert.match(v.problems[0].message, /takes a link from a BLOB output, got the literal 5/);
  });

  it('reports an input the node does not have, with a suggestion', () => {
    const v = makeEngine().validate(workflow({ 1: { type: 'Const', inputs: { valeu: 3 } }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }));
    assert.deepEqual(codes(v.problems), ['unknown_input']);
    assert.match(v.problems[0].message, /has no input "valeu" \(did you mean "value"\?\)/);
  });

  it('reports links to missing nodes and to outputs that do not exist', () => {
    const v = makeEngine().validate(workflow({
      1: { type: 'Const' },
      2: { type: 'Add', inputs: { a: ['9', 0], b: ['1', 3] } },
      3: { type: 'Sink', inputs: { x: ['2', 0] } },
    }));
    assert.deepEqual(v.problems.map((p) => [p.nodeId, p.input, p.code]), [['2', 'a', 'missing_link_node'], ['2', 'b', 'bad_output_index']]);
    assert.match(v.problems[1].message, /output 3 of node 1 \(Const\), which has 1 output \(0\.\.0\)/);
  });

  it('reports a type mismatch between an output and an input', () => {
    const v = makeEngine().validate(workflow({
      1: { type: 'Blob' }, 2: { type: 'Inc', inputs: { x: ['1', 0] } }, 3: { type: 'Sink', inputs: { x: ['2', 0] } },
    }));
    assert.deepEqual(v.problems.map((p) => [p.nodeId, p.input, p.code]), [['2', 'x', 'type_mismatch']]);
    assert.match(v.problems[0].message, /expects INT but is linked to output 0 \("blob"\) of node 1 \(Blob\), which is BLOB/);
  });

  it('lists the nodes of a cycle', () => {
    const v = makeEngine().validate(workflow({
      1: { type: 'Const' },
      2: { type: 'Add', inputs: { a: ['1', 0], b: ['4', 0] } },
      3: { type: 'Inc', inputs: { x: ['2', 0] } },
      4: { type: 'Inc', inputs: { x: ['3', 0] } },
      5: { type: 'Sink', inputs: { x: ['4', 0] } },
    }));
    assert.deepEqual(codes(v.problems), ['cycle']);
    const cycle = v.problems[0].message.split(': ')[1].split(' → ');
    assert.equal(cycle.length, 4);
    assert.equal(cycle[0], cycle[3]);
    assert.deepEqual(new Set(cycle), new Set(['2', '3', '4']));
  });

  it('reports a workflow without an output node', () => {
    const v = makeEngine().validate(workflow({ 1: { type: 'Const' } }));
    assert.deepEqual(v.problems, [{ nodeId: null, code: 'no_output', message: v.problems[0].message }]);
    assert.match(v.problems[0].message, /no output node/);
  });

  it('returns every problem at once', () => {
    const v = engineWithSteps().validate(workflow({
      1: { type: 'Nope' },
      2: { type: 'Steps', inputs: { steps: -1 } },
      3: { type: 'Add', inputs: { a: ['1', 0], b: ['7', 0] } },
      4: { type: 'Sink', inputs: { x: ['3', 0] } },
    }));
    assert.deepEqual(codes(v.problems).sort(), ['invalid_value', 'missing_link_node', 'unknown_node_type']);
  });

  it('checks only what would run, but every node type', () => {
    const v = makeEngine().validate(workflow({
      1: { type: 'Const' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } },
      3: { type: 'Inc', inputs: {} }, // dangling and incomplete: not run, not checked
    }));
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.order, ['1', '2']);
  });

  it('reports targets that are not in the workflow', () => {
    const v = makeEngine().validate(workflow({ 1: { type: 'Const' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } }), ['2', '8']);
    assert.deepEqual(codes(v.problems), ['unknown_target']);
  });

  it('refuses to execute an invalid workflow, with every problem in the error', async () => {
    const engine = makeEngine();
    await assert.rejects(engine.execute(workflow({ 1: { type: 'Inc' }, 2: { type: 'Sink', inputs: { x: ['1', 0] } } })),
      (e: unknown) => e instanceof WorkflowValidationError && e.problems.length === 1 && /node 1 \(Inc\), input "x"/.test(e.message));
  });
});
