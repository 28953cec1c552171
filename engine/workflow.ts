import { z } from 'zod';
import { fromComfyApi, isRecord, nodeIdProblem, nodeProblem, readableFormat, WorkflowFormatError, WORKFLOW_FORMAT } from './workflow-formats.ts';

export { detectFormat, fromComfyApi, isLink, toComfyApi, WorkflowFormatError, WORKFLOW_FORMAT } from './workflow-formats.ts';

/**
 * The workflow file formats.
 *
 * Native (`sanagraph/workflow@1`):
 *   { "format": "sanagraph/workflow@1",
 *     "nodes": { "<id>": { "type": "<NodeType>", "inputs": { "<input>": <literal> | ["<fromId>", <outputIndex>] } } },
 *     "ui": { ...free-form editor data... } }
 *
 * ComfyUI API format: { "<id>": { "class_type": "<NodeType>", "inputs": {...}, "_meta": { "title": "..." } } }
 * is accepted wherever a workflow is and converted losslessly: whatever a node carries besides
 * `class_type` and `inputs` is kept under `ui.comfy[<id>]`, its title also under `ui.nodes[<id>].title`.
 *
 * A two-element array `["<id>", <non-negative integer>]` as an input value is always a link.
 * (The conversions and format detection, which need no schema, live in workflow-formats.ts.)
 */

function checkNodeIds(nodes: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const id of Object.keys(nodes)) {
    const problem = nodeIdProblem(id);
    if (problem) ctx.addIssue({ code: 'custom', path: [id], message: problem });
  }
}

// Input values are checked against each node's input specs during validation; here only the
// container's shape. (A custom check instead of z.record also avoids copying every node's inputs.)
const inputsSchema = z.custom<Record<string, unknown>>(isRecord, 'inputs must be an object').default({});

export const WorkflowNodeSchema = z.looseObject({
  type: z.string().min(1),
  inputs: inputsSchema,
});

export const WorkflowSchema = z.object({
  format: z.literal(WORKFLOW_FORMAT),
  nodes: z.record(z.string(), WorkflowNodeSchema).superRefine(checkNodeIds),
  ui: z.record(z.string(), z.unknown()).optional(),
});

export type Workflow = z.infer<typeof WorkflowSchema>;
export type WorkflowNode = z.infer<typeof WorkflowNodeSchema>;

export const ComfyApiNodeSchema = z.looseObject({
  class_type: z.string().min(1),
  inputs: inputsSchema,
});
export const ComfyApiWorkflowSchema = z.record(z.string(), ComfyApiNodeSchema).superRefine(checkNodeIds);
export type ComfyApiWorkflow = z.infer<typeof ComfyApiWorkflowSchema>;



function zodIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

/** `nodes["5"].inputs` style, so keys with dots or spaces stay readable. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((k, i) => (typeof k === 'string' && /^[A-Za-z_$][\w$]*$/.test(k)
    ? `${i ? '.' : ''}${k}` : `[${JSON.stringify(typeof k === 'symbol' ? String(k) : k)}]`)).join('');
}


/**
 * The common case, checked without copying: a native workflow that WorkflowSchema would accept
 * unchanged (no unknown top-level keys to strip, every node with its `inputs`). Zod copies every
 * node, which was a fifth of re-running a cached 10,000-node workflow. Anything else (and every
 * error message) goes through the schema.
 */
function wellFormedNative(value: unknown): Workflow | undefined {
  const v = value as Record<string, unknown>;
  if (!isRecord(v.nodes) || (v.ui !== undefined && !isRecord(v.ui))) return undefined;
  for (const key in v) if (key !== 'format' && key !== 'nodes' && key !== 'ui') return undefined;
  const nodes = v.nodes;
  for (const id in nodes) {
    if (nodeProblem(id, nodes[id], 'type') !== undefined || !isRecord((nodes[id] as Record<string, unknown>).inputs)) return undefined;
  }
  return value as Workflow;
}

/**
 * Reads a workflow in either format as a native one. The result may share objects with `value`
 * (treat both as read-only).
 */
export function parseWorkflow(value: unknown): Workflow {
  if (readableFormat(value) === 'native') {
    const valid = wellFormedNative(value);
    if (valid) return valid;
    const parsed = WorkflowSchema.safeParse(value);
    if (!parsed.success) throw new WorkflowFormatError('malformed workflow', zodIssues(parsed.error));
    return parsed.data;
  }
  const parsed = ComfyApiWorkflowSchema.safeParse(value);
  if (!parsed.success) throw new WorkflowFormatError('malformed ComfyUI API workflow', zodIssues(parsed.error));
  return fromComfyApi(parsed.data);
}
