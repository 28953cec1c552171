import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Y from 'yjs';
import { Graph } from '../editor/src/graph.ts';
import { loadWorkflow, toNative, workflowDoc } from '../editor/src/workflow-doc.ts';

describe('editor graph edits (no browser)', () => {
  it('copy and paste keep literal array values and the links among the copied nodes, not links from outside', () => {
    const wd = workflowDoc(new Y.Doc());
    const graph = new Graph(wd, new Map());
    loadWorkflow(wd, {
      format: 'sanagraph/workflow@1',
      nodes: {
        a: { type: 'Source', inputs: {} },
        b: { type: 'Lists', inputs: { sizes: [512, 768], pair: ['x', 3], from: ['a', 0], outside: ['c', 1] } },
        c: { type: 'Other', inputs: {} },
      },
      ui: { nodes: { a: { pos: [0, 0] }, b: { pos: [300, 40] }, c: { pos: [600, 0] } } },
    });
    const ids = graph.paste(graph.fragment(['a', 'b']), { x: 1000, y: 1000 });
    const pasted = graph.toWorkflow();
    const [a2, b2] = ids;
    assert.deepEqual(pasted.nodes[b2].inputs, { sizes: [512, 768], from: [a2, 0] }, 'the array literal survives; ["x", 3] links to a node not in the workflow, so it is not copied; the link from outside is not copied');
    assert.deepEqual((pasted.ui as { nodes: Record<string, { pos: number[] }> }).nodes[b2].pos, [1300, 1040]);
  });

  it('imports only well-formed workflows, in either format, saying what is wrong', () => {
    const native = { format: 'sanagraph/workflow@1', nodes: { a: { type: 'Source', inputs: {} }, b: { type: 'Other' } } };
    assert.equal(toNative(native), native, 'inputs may be left out');
    assert.deepEqual(toNative({ 1: { class_type: 'Source', inputs: { x: 1 } } }).nodes, { 1: { type: 'Source', inputs: { x: 1 } } });
    assert.throws(() => toNative({ format: 'sanagraph/workflow@1', nodes: { a: { inputs: {} } } }), /malformed workflow: node "a" needs "type"/);
    assert.throws(() => toNative({ format: 'sanagraph/workflow@1', nodes: { a: { type: 7, inputs: {} } } }), /node "a" needs "type"/);
    assert.throws(() => toNative({ format: 'sanagraph/workflow@1', nodes: { 'a.1': { type: 'X', inputs: {} } } }), /node id "a\.1" must be non-empty and may not contain "\."/);
    assert.throws(() => toNative({ format: 'sanagraph/workflow@1', nodes: { a: { type: 'X', inputs: [1] } } }), /node "a": inputs must be an object/);
    assert.throws(() => toNative({ 1: { class_type: 5, inputs: {} } }), /node "1" needs "class_type"/);
    assert.throws(() => toNative({ format: 'sanagraph/workflow@1', nodes: [] }), /"nodes" must be an object/);
    assert.throws(() => toNative({ format: 'other@2', nodes: {} }), /unsupported workflow format "other@2"/);
  });
});
