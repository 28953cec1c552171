import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Y from 'yjs';
import { Graph } from '../editor/src/graph.ts';
import { loadWorkflow, workflowDoc } from '../editor/src/workflow-doc.ts';

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
});
