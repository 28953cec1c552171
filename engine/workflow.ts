import { z } from 'zod';

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
 */
export const WORKFLOW_FORMAT = 'sanagraph/workflow@1';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Node ids are non-empty and free of "." (which separates the ids of expanded nodes). */
function checkNodeIds(nodes: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const id of Object.keys(nodes)) {
    if (id === '' || id.includes('.')) {
      ctx.addIssue({ code: 'custom', path: [id], message: `node id ${JSON.stringify(id)} must be non-empty and may not contain "." (it separates the ids of expanded nodes)` });
    }
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

export type Link = [string, number];

export function isLink(value: unknown): value is Link {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string'
    && Number.isInteger(value[1]) && (value[1] as number) >= 0;
}

export class WorkflowFormatError extends Error {
  constructor(message: string, readonly issues: string[] = []) {
    super(issues.length ? `${message}:\n${issues.map((i) => `  - ${i}`).join('\n')}` : message);
    this.name = 'WorkflowFormatError';
  }
}

function zodIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

/** `nodes["5"].inputs` style, so keys with dots or spaces stay readable. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((k, i) => (typeof k === 'string' && /^[A-Za-z_$][\w$]*$/.test(k)
    ? `${i ? '.' : ''}${k}` : `[${JSON.stringify(typeof k === 'symbol' ? String(k) : k)}]`)).join('');
}

/** Which format a parsed JSON value is in, judged from its shape. */
export function detectFormat(value: unknown): 'native' | 'comfy-api' | 'comfy-ui' | 'unknown' {
  if (!isRecord(value)) return 'unknown';
  if (typeof value.format === 'string') return 'native';
  if (Array.isArray(value.nodes) && 'links' in value) return 'comfy-ui';
  const entries = Object.values(value);
  if (entries.length > 0 && entries.every((n) => isRecord(n) && 'class_type' in n)) return 'comfy-api';
  return 'unknown';
}

/** Accepts a workflow in any supported format and returns the native form. */
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
    const node = nodes[id] as Record<string, unknown>;
    if (id === '' || id.includes('.') || !isRecord(node) || typeof node.type !== 'string' || node.type === '' || !isRecord(node.inputs)) return undefined;
  }
  return value as Workflow;
}

/**
 * Reads a workflow in either format as a native one. The result may share objects with `value`
 * (treat both as read-only).
 */
export function parseWorkflow(value: unknown): Workflow {
  switch (detectFormat(value)) {
    case 'native': {
      const format = (value as { format: string }).format;
      if (format !== WORKFLOW_FORMAT) {
        throw new WorkflowFormatError(`unsupported workflow format "${format}": this version reads "${WORKFLOW_FORMAT}"`);
      }
      const valid = wellFormedNative(value);
      if (valid) return valid;
      const parsed = WorkflowSchema.safeParse(value);
      if (!parsed.success) throw new WorkflowFormatError('malformed workflow', zodIssues(parsed.error));
      return parsed.data;
    }
    case 'comfy-api': {
      const parsed = ComfyApiWorkflowSchema.safeParse(value);
      if (!parsed.success) throw new WorkflowFormatError('malformed ComfyUI API workflow', zodIssues(parsed.error));
      return fromComfyApi(parsed.data);
    }
    case 'comfy-ui':
      throw new WorkflowFormatError(
        'this is a ComfyUI editor save file (nodes and links lists), not a runnable workflow: '
        + 'export it from ComfyUI with "Export (API)", or open it in the sanagraph editor');
    default:
      throw new WorkflowFormatError(
        `not a workflow: expected {"format": "${WORKFLOW_FORMAT}", "nodes": {...}} or a ComfyUI API workflow `
        + '({"<id>": {"class_type": ..., "inputs": {...}}})');
  }
}

export function fromComfyApi(api: ComfyApiWorkflow): Workflow {
  const nodes: Workflow['nodes'] = {};
  const comfy: Record<string, Record<string, unknown>> = {};
  const uiNodes: Record<string, { title: string }> = {};
  for (const [id, node] of Object.entries(api)) {
    const { class_type, inputs, ...rest } = node;
    nodes[id] = { type: class_type, inputs };
    if (Object.keys(rest).length > 0) comfy[id] = rest;
    const title = (rest._meta as { title?: unknown } | undefined)?.title;
    if (typeof title === 'string') uiNodes[id] = { title };
  }
  const ui: Record<string, unknown> = {};
  if (Object.keys(comfy).length) ui.comfy = comfy;
  if (Object.keys(uiNodes).length) ui.nodes = uiNodes;
  return { format: WORKFLOW_FORMAT, nodes, ...(Object.keys(ui).length ? { ui } : {}) };
}

export function toComfyApi(workflow: Workflow): ComfyApiWorkflow {
  const comfy = (isRecord(workflow.ui?.comfy) ? workflow.ui.comfy : {}) as Record<string, Record<string, unknown>>;
  const uiNodes = (isRecord(workflow.ui?.nodes) ? workflow.ui.nodes : {}) as Record<string, { title?: unknown }>;
  const api: ComfyApiWorkflow = {};
  for (const [id, node] of Object.entries(workflow.nodes)) {
    const { type, inputs } = node;
    const extra: Record<string, unknown> = isRecord(comfy[id]) ? { ...comfy[id] } : {};
    const title = uiNodes[id]?.title;
    if (typeof title === 'string') extra._meta = { ...(isRecord(extra._meta) ? extra._meta : {}), title };
    api[id] = { inputs, class_type: type, ...extra };
  }
  return api;
}
