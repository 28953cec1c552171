/** Small page helpers: elements by id, the toast, and the workflow-name dialog. */
import { isWorkflowName, WORKFLOW_NAME_RULE } from '../../server/workflow-name.ts';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Runs `fn` when the element with that id is clicked. */
export const onClick = (id: string, fn: () => unknown) => { $(id).onclick = () => void fn(); };

export function toast(message: string): void {
  const el = $('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout((el as unknown as { timer?: number }).timer);
  (el as unknown as { timer?: number }).timer = window.setTimeout(() => el.classList.remove('show'), 5000);
}


/** Asks for a workflow name in a small dialog; says what is wrong with a bad one before closing. */
export function askName(question: string, suggestion: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.className = 'name-dialog';
    const form = document.createElement('form');
    const label = document.createElement('label');
    label.textContent = question;
    const input = document.createElement('input');
    input.value = suggestion;
    input.size = 40;
    const hint = document.createElement('div');
    hint.className = 'hint';
    const ok = Object.assign(document.createElement('button'), { textContent: 'OK', type: 'submit', className: 'primary' });
    const cancel = Object.assign(document.createElement('button'), { textContent: 'Cancel', type: 'button' });
    const close = (value: string | undefined) => { dialog.close(); dialog.remove(); resolve(value); };
    input.oninput = () => { hint.textContent = ''; };
    form.onsubmit = (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (isWorkflowName(name)) close(name);
      else hint.textContent = `Use ${WORKFLOW_NAME_RULE}.`;
    };
    cancel.onclick = () => close(undefined);
    dialog.addEventListener('cancel', () => close(undefined));
    dialog.addEventListener('keydown', (e) => e.stopPropagation());
    form.append(label, input, hint, ok, cancel);
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

