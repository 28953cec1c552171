import { WORKFLOW_FORMAT, type NativeWorkflow } from './workflow-doc.ts';

/** Import and export: native and ComfyUI API JSON, and the workflow embedded in our PNGs. */

type ComfyApi = Record<string, { class_type: string; inputs?: Record<string, unknown>; _meta?: { title?: string } }>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A workflow in either format, as native; throws with what is wrong. */
export function toNative(data: unknown): NativeWorkflow {
  if (isRecord(data) && data.format === WORKFLOW_FORMAT && isRecord(data.nodes)) return data as unknown as NativeWorkflow;
  if (isRecord(data) && Object.values(data).length && Object.values(data).every((n) => isRecord(n) && typeof n.class_type === 'string')) {
    const api = data as ComfyApi;
    const nodes: NativeWorkflow['nodes'] = {};
    const uiNodes: Record<string, { title: string }> = {};
    for (const [id, n] of Object.entries(api)) {
      nodes[id] = { type: n.class_type, inputs: n.inputs ?? {} };
      if (n._meta?.title) uiNodes[id] = { title: n._meta.title };
    }
    return { format: WORKFLOW_FORMAT, nodes, ui: { nodes: uiNodes } };
  }
  throw new Error(`not a workflow: expected {"format": "${WORKFLOW_FORMAT}", "nodes": …} or ComfyUI's API format`);
}

export function toComfyApi(wf: NativeWorkflow): ComfyApi {
  const ui = (wf.ui?.nodes ?? {}) as Record<string, { title?: string }>;
  return Object.fromEntries(Object.entries(wf.nodes).map(([id, n]) => [id, {
    class_type: n.type, inputs: n.inputs, ...(ui[id]?.title ? { _meta: { title: ui[id].title } } : {}),
  }]));
}

/** The `workflow` text chunk of a PNG written by SaveImage (tEXt, or uncompressed iTXt). */
export function workflowFromPng(bytes: Uint8Array): unknown {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => bytes[i] === b)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder();
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const nul = data.indexOf(0);
      const key = latin1.decode(data.subarray(0, nul));
      if (key === 'workflow') {
        if (type === 'tEXt') return JSON.parse(latin1.decode(data.subarray(nul + 1)));
        if (data[nul + 1] !== 0) throw new Error('the workflow chunk is compressed (not written by sanagraph)');
        let p = nul + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        return JSON.parse(utf8.decode(data.subarray(p)));
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  throw new Error('this PNG has no embedded workflow (images saved by SaveImage have one)');
}

export function download(name: string, data: unknown): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Reads a dropped or chosen file (JSON or PNG) into a native workflow. */
export async function readWorkflowFile(file: File): Promise<NativeWorkflow> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (file.type === 'image/png' || file.name.toLowerCase().endsWith('.png')) return toNative(workflowFromPng(bytes));
  return toNative(JSON.parse(new TextDecoder().decode(bytes)));
}
