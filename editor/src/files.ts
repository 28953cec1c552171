import { workflowFromPng } from '../../engine/workflow-png.ts';
import { toNative, type NativeWorkflow } from './workflow-doc.ts';

/**
 * Import and export: native and ComfyUI API JSON (read by toNative, with the engine's own
 * conversions), and the workflow embedded in our PNGs.
 */

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
