import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectFormat, fromComfyApi, parseWorkflow, toComfyApi, WorkflowFormatError } from '../engine/index.ts';
import { makeEngine } from './helpers.ts';

const comfyApi = {
  3: { inputs: { value: 4 }, class_type: 'Const', _meta: { title: 'Four' } },
  5: { inputs: { x: ['3', 0], by: 2 }, class_type: 'Inc', _meta: { title: 'Plus two' }, is_changed: ['abc'] },
  9: { inputs: { x: ['5', 0] }, class_type: 'Sink' },
};

describe('workflow formats', () => {
  it('parses the native format', () => {
    const wf = parseWorkflow({ format: 'sanagraph/workflow@1', nodes: { 1: { type: 'Const' } }, ui: { nodes: { 1: { pos: [0, 0] } } } });
    assert.deepEqual(wf.nodes['1'], { type: 'Const', inputs: {} });
    assert.deepEqual(wf.ui, { nodes: { 1: { pos: [0, 0] } } });
  });

  it('takes a well-formed native workflow as it is, and anything the schema would change through the schema', () => {
    const wf = { format: 'sanagraph/workflow@1', nodes: { a: { type: 'T', inputs: { x: 1 }, extra: true } }, ui: { k: 1 } };
    assert.equal(parseWorkflow(wf), wf, 'no copy');
    const noInputs = { format: 'sanagraph/workflow@1', nodes: { a: { type: 'T' } } };
    assert.deepEqual(parseWorkflow(noInputs).nodes.a.inputs, {}, 'missing inputs default to {}');
    const unknownKey = { format: 'sanagraph/workflow@1', nodes: {}, note: 'x' };
    assert.equal('note' in parseWorkflow(unknownKey), false, 'unknown top-level keys are dropped');
    assert.throws(() => parseWorkflow({ format: 'sanagraph/workflow@1', nodes: { 'a.b': { type: 'T', inputs: {} } } }), /may not contain "\."/);
    assert.throws(() => parseWorkflow({ format: 'sanagraph/workflow@1', nodes: { a: { type: '', inputs: {} } } }), WorkflowFormatError);
  });

  it('converts the ComfyUI API format and back without losing anything', () => {
    assert.equal(detectFormat(comfyApi), 'comfy-api');
    const native = parseWorkflow(comfyApi);
    assert.equal(native.format, 'sanagraph/workflow@1');
    assert.deepEqual(native.nodes['5'], { type: 'Inc', inputs: { x: ['3', 0], by: 2 } });
    assert.deepEqual((native.ui as { nodes: unknown }).nodes, { 3: { title: 'Four' }, 5: { title: 'Plus two' } });
    assert.deepEqual(toComfyApi(native), comfyApi);
    assert.deepEqual(toComfyApi(fromComfyApi(toComfyApi(native))), comfyApi);
  });

  it('carries an edited title back into the ComfyUI format', () => {
    const native = parseWorkflow(comfyApi);
    (native.ui as { nodes: Record<string, { title: string }> }).nodes['3'].title = 'Renamed';
    assert.deepEqual(toComfyApi(native)['3']._meta, { title: 'Renamed' });
  });

  it('runs a ComfyUI API workflow like a native one', async () => {
    const result = await makeEngine().execute(comfyApi);
    assert.deepEqual(result.outputs, { 9: { value: [6] } });
  });

  it('explains what is wrong with things that are not workflows', () => {
    assert.throws(() => parseWorkflow({ format: 'sanagraph/workflow@2', nodes: {} }), /unsupported workflow format "sanagraph\/workflow@2"/);
    assert.throws(() => parseWorkflow({ nodes: [{ id: 1 }], links: [] }), /ComfyUI editor save file.*Export \(API\)/);
    assert.throws(() => parseWorkflow([1, 2]), /not a workflow/);
    assert.throws(() => parseWorkflow({ format: 'sanagraph/workflow@1', nodes: { 1: { inputs: {} } } }),
      (e: unknown) => e instanceof WorkflowFormatError && /nodes\["1"\]\.type/.test(e.message));
    assert.throws(() => parseWorkflow({ format: 'sanagraph/workflow@1', nodes: { 'a.b': { type: 'Const' } } }), /may not contain "\."/);
    assert.throws(() => parseWorkflow({ 1: { class_type: 'Const', inputs: 'oops' } }), /malformed ComfyUI API workflow/);
  });
});
