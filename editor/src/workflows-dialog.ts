import type { WorkflowSummary } from '../../server/workflow-store.ts';

/**
 * The "Open" dialog: saved workflows (open the shared document) and the shipped templates
 * (opened as a new copy, so a template itself never changes).
 */

function button(text: string, onclick: () => void, cls = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = text;
  b.className = cls;
  b.onclick = onclick;
  return b;
}

export async function showOpenDialog(open: (name: string) => void, copyTemplate: (template: string) => void): Promise<void> {
  const [saved, templates] = await Promise.all([
    fetch('/api/workflows').then((r) => r.json()) as Promise<WorkflowSummary[]>,
    fetch('/api/templates').then((r) => r.json()) as Promise<{ name: string }[]>,
  ]);
  const dialog = document.createElement('dialog');
  dialog.className = 'open-dialog';
  const close = () => { dialog.close(); dialog.remove(); };
  const section = (title: string, rows: HTMLElement[]) => {
    const h = document.createElement('h3');
    h.textContent = title;
    const list = document.createElement('div');
    list.className = 'rows';
    list.append(...(rows.length ? rows : [Object.assign(document.createElement('em'), { textContent: 'none yet' })]));
    return [h, list];
  };
  const savedRows = saved.map((w) => {
    const b = button(w.name, () => { close(); open(w.name); }, 'workflow-item');
    b.dataset.workflow = w.name;
    b.title = `saved ${new Date(w.modified).toLocaleString()}`;
    return b;
  });
  const templateRows = templates.map((t) => {
    const b = button(t.name, () => { close(); copyTemplate(t.name); }, 'template-item');
    b.dataset.template = t.name;
    b.title = 'start a new workflow from this template';
    return b;
  });
  dialog.append(...section('Saved workflows', savedRows), ...section('Templates', templateRows), button('Close', close));
  dialog.addEventListener('keydown', (e) => e.stopPropagation());
  document.body.append(dialog);
  dialog.showModal();
}
