import type { ComfyApiWorkflow, Workflow } from './workflow.ts';

/**
 * The workflow formats' plain-data parts, without the zod schemas (engine/workflow.ts): the
 * browser editor bundles this module, and the schema types are imported as types only.
 */
export const WORKFLOW_FORMAT = 'sanagraph/workflow@1';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type Link = [string, number];

export function isLink(value: unknown): value is Link {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string'
    && Number.isInteger(value[1]) && (value[1] as number) >= 0;
}

/**
 * What is wrong with one node of a workflow (its id, its type name, its inputs), checked without
 * a schema; undefined when nothing. `inputs` may be missing (it means none). The editor checks
 * imports with this; parseWorkflow takes it as its fast path before zod's detailed messages.
 */
export function nodeProblem(id: string, node: unknown, typeKey: 'type' | 'class_type'): string | undefined {
  const idProblem = nodeIdProblem(id);
  if (idProblem) return idProblem;
  if (!isRecord(node)) return `node ${JSON.stringify(id)} must be an object`;
  const type = node[typeKey];
  if (typeof type !== 'string' || type === '') return `node ${JSON.stringify(id)} needs "${typeKey}", the name of its node type`;
  if (node.inputs !== undefined && !isRecord(node.inputs)) return `node ${JSON.stringify(id)}: inputs must be an object`;
  return undefined;
}

/** Node ids are non-empty and free of "." (which separates the ids of expanded nodes). */
export function nodeIdProblem(id: string): string | undefined {
  if (id === '' || id.includes('.')) return `node id ${JSON.stringify(id)} must be non-empty and may not contain "." (it separates the ids of expanded nodes)`;
  return undefined;
}

export class WorkflowFormatError extends Error {
  constructor(message: string, readonly issues: string[] = []) {
    super(issues.length ? `${message}:\n${issues.map((i) => `  - ${i}`).join('\n')}` : message);
    this.name = 'WorkflowFormatError';
  }
}

/**
 * The format of a value that can be read as a workflow: ours (this version) or ComfyUI's API
 * format. Anything else throws a WorkflowFormatError saying what it is and what to do.
 */
export function readableFormat(value: unknown): 'native' | 'comfy-api' {
  const format = detectFormat(value);
  if (format === 'native') {
    const version = (value as { format: unknown }).format;
    if (version !== WORKFLOW_FORMAT) throw new WorkflowFormatError(`unsupported workflow format "${String(version)}": this version reads "${WORKFLOW_FORMAT}"`);
    return format;
  }
  if (format === 'comfy-api') return format;
  if (format === 'comfy-ui') {
    throw new WorkflowFormatError('this is a ComfyUI editor save file (nodes and links lists), not a runnable workflow: '
      + 'export it from ComfyUI with "Export (API)" and use that');
  }
  throw new WorkflowFormatError(`not a workflow: expected {"format": "${WORKFLOW_FORMAT}", "nodes": {...}} or a ComfyUI API workflow `
    + '({"<id>": {"class_type": ..., "inputs": {...}}})');
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
