import { detectFormat, fromComfyApi, isRecord, WORKFLOW_FORMAT } from '../../engine/workflow-formats.ts';
import type { ComfyApiWorkflow } from '../../engine/workflow.ts';
import { workflowFromPng } from '../../engine/workflow-png.ts';
import type { NativeWorkflow } from './workflow-doc.ts';

/**
 * Import and export: native and ComfyUI API JSON (converted by the engine's own functions, so
 * what a ComfyUI node carries besides its inputs survives the round trip), and the workflow
 * embedded in our PNGs.
 */

/** A workflow in either format, as native; throws with what is wrong. */
export function toNative(data: unknown): NativeWorkflow {
  switch (detectFormat(data)) {
    case 'native': {
      const { format, nodes } = data as { format: unknown; nodes: unknown };
      if (format === WORKFLOW_FORMAT && isRecord(nodes)) return data as NativeWorkflow;
      throw new Error(`unsupported workflow format "${String(format)}": this version reads "${WORKFLOW_FORMAT}"`);
    }
    case 'comfy-api':
      return fromComfyApi(data as ComfyApiWorkflow);
    case 'comfy-ui':
      throw new Error('this is a ComfyUI editor save file: export it from ComfyUI with "Export (API)" and import that');
    default:
      throw new Error(`not a workflow: expected {"format": "${WORKFLOW_FORMAT}", "nodes": …} or ComfyUI's API format`);
  }
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
