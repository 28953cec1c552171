import { toComfyApi, WORKFLOW_FORMAT } from '../../engine/workflow-formats.ts';
import { download, readWorkflowFile } from './files.ts';
import type { Graph } from './graph.ts';
import { $, askName, onClick, toast } from './ui.ts';
import type { GraphView } from './view.ts';
import type { NativeWorkflow } from './workflow-doc.ts';
import { showOpenDialog } from './workflows-dialog.ts';

/** The toolbar's workflow actions: new, open, save as, rename, import (also by drop), export. */

/** Opens another workflow (a new page: its own document). */
export function go(name: string): void {
  location.search = `?${new URLSearchParams({ workflow: name })}`;
}

export async function saveAs(name: string, workflow: NativeWorkflow): Promise<boolean> {
  const res = await fetch(`/api/workflows/${encodeURIComponent(name)}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(workflow),
  });
  if (!res.ok) toast(`Could not save: ${(await res.json()).error?.message ?? res.status}`);
  return res.ok;
}

export function mountWorkflowActions(name: string, graph: Graph, view: GraphView): void {
  onClick('btn-new', async () => {
    const n = await askName('Name of the new workflow', 'untitled');
    if (n && await saveAs(n, { format: WORKFLOW_FORMAT, nodes: {} })) go(n);
  });
  onClick('btn-open', () => showOpenDialog(go, async (template) => {
    const n = await askName(`Name of the new workflow (from the template "${template}")`, `my ${template}`);
    const body = n && await (await fetch(`/api/templates/${encodeURIComponent(template)}`)).json();
    if (n && body && await saveAs(n, body)) go(n);
  }));
  onClick('btn-save-as', async () => {
    const n = await askName('Save a copy as', `${name} copy`);
    if (n && await saveAs(n, graph.toWorkflow())) go(n);
  });
  onClick('btn-rename', async () => {
    const n = await askName('Rename this workflow to', name);
    if (!n || n === name || !(await saveAs(n, graph.toWorkflow()))) return;
    await fetch(`/api/workflows/${encodeURIComponent(name)}`, { method: 'DELETE' });
    go(n);
  });
  onClick('btn-export', () => download(`${name}.json`, graph.toWorkflow()));
  onClick('btn-export-api', () => download(`${name}.api.json`, toComfyApi(graph.toWorkflow())));

  const importFile = async (file: File) => {
    try {
      graph.replace(await readWorkflowFile(file));
      await view.scheduleReconcile();
      await view.fit();
      toast(`Loaded ${file.name} (Ctrl+Z undoes it)`);
    } catch (e) {
      toast(`Cannot import ${file.name}: ${(e as Error).message}`);
    }
  };
  const fileInput = $<HTMLInputElement>('file-input');
  onClick('btn-import', () => fileInput.click());
  fileInput.onchange = () => {
    if (fileInput.files?.[0]) void importFile(fileInput.files[0]);
    fileInput.value = '';
  };
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) void importFile(file);
  });
}
