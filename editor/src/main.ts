import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { inputType, parseCatalog, type NodeSpec } from './catalog.ts';
import { download, readWorkflowFile, toComfyApi } from './files.ts';
import { Graph, GraphError, typesCompatible } from './graph.ts';
import type { NodeHost } from './node-view.ts';
import { mountPalette, openQuickSearch } from './palette.ts';
import { Presence } from './presence.ts';
import { Runner } from './run.ts';
import { showOpenDialog } from './workflows-dialog.ts';
import { GraphView } from './view.ts';
import { linkKey, nodeInputs, workflowDoc, type NativeWorkflow, type Position } from './workflow-doc.ts';

/**
 * The editor page: `/?workflow=<name>` opens the shared document of that workflow (the shipped
 * demo when no name is given) and everyone on the same address edits it together.
 */
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function toast(message: string): void {
  const el = $('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout((el as unknown as { timer?: number }).timer);
  (el as unknown as { timer?: number }).timer = window.setTimeout(() => el.classList.remove('show'), 5000);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.()-]{0,99}$/;

function workflowName(): string {
  const params = new URLSearchParams(location.search);
  const name = params.get('workflow');
  if (name && NAME.test(name)) return name;
  params.set('workflow', 'demo');
  history.replaceState(null, '', `?${params}`);
  return 'demo';
}

function go(name: string): void {
  location.search = `?${new URLSearchParams({ workflow: name })}`;
}

/** Asks for a workflow name in a small dialog; says what is wrong with a bad one before closing. */
function askName(question: string, suggestion: string): Promise<string | undefined> {
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
      if (NAME.test(name) && !name.includes('..')) close(name);
      else hint.textContent = 'Use 1–100 letters, digits, spaces or _ - . ( ), starting with a letter or digit.';
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

async function saveAs(name: string, workflow: NativeWorkflow): Promise<boolean> {
  const res = await fetch(`/api/workflows/${encodeURIComponent(name)}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(workflow),
  });
  if (!res.ok) toast(`Could not save: ${(await res.json()).error?.message ?? res.status}`);
  return res.ok;
}

async function main(): Promise<void> {
  const name = workflowName();
  document.title = `${name} — sanagraph`;
  $('workflow-name').textContent = name;
  // The document starts syncing while the catalog loads.
  const doc = new Y.Doc();
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const provider = new WebsocketProvider(`${proto}://${location.host}/collab`, encodeURIComponent(name), doc, { disableBc: true });
  const synced = new Promise<void>((resolve) => provider.once('sync', () => resolve()));
  const catalog: Map<string, NodeSpec> = parseCatalog(await (await fetch('/object_info')).json());
  performance.mark('sanagraph:catalog');
  const wd = workflowDoc(doc);
  const graph = new Graph(wd, catalog);
  const seedModes = new Map<string, 'randomize' | 'fixed'>();
  const host: NodeHost = {
    widgetValue: (id, input) => { const n = wd.nodes.get(id); return n ? nodeInputs(n).get(input) : undefined; },
    linkedFrom: (id, input) => {
      const link = wd.links.get(linkKey(id, input));
      const from = link && wd.nodes.get(link.from);
      return from ? ((from.get('title') as string | undefined) || catalog.get(from.get('type') as string)?.displayName || link!.from) : undefined;
    },
    setWidget: (id, input, value) => graph.setWidget(id, input, value),
    setTitle: (id, title) => graph.setTitle(id, title),
    seedMode: (id) => seedModes.get(id) ?? 'randomize',
    setSeedMode: (id, mode) => seedModes.set(id, mode),
  };
  const view = new GraphView($('canvas'), graph, catalog, host);
  view.onProblem = toast;

  const showStatus = (status: string) => {
    $('connection').textContent = status === 'connected' ? 'live' : 'offline — edits merge on reconnect';
    $('connection').className = `conn ${status}`;
  };
  provider.on('status', ({ status }: { status: string }) => showStatus(status));
  showStatus(provider.wsconnected ? 'connected' : 'disconnected');
  const presence = new Presence(provider.awareness, view, $('peers'), $<HTMLInputElement>('user-name'));

  const runner = new Runner(view, $('queue-list'), $('gallery'));
  runner.onToast = toast;
  runner.onFinished = () => {
    // "randomize after each run", as ComfyUI's control_after_generate
    for (const [id, node] of wd.nodes.entries()) {
      const spec = catalog.get(node.get('type') as string);
      const seed = spec?.inputs.find((i) => i.kind === 'widget' && i.widget === 'seed');
      if (seed && host.seedMode(id) === 'randomize') graph.setWidget(id, seed.name, Math.floor(Math.random() * 2 ** 32));
    }
  };
  runner.connect();

  const addAt = (type: string, pos: Position) => {
    const id = graph.addNode(type, pos);
    void view.scheduleReconcile().then(() => view.select([id]));
    return id;
  };
  mountPalette($<HTMLInputElement>('palette-search'), $('palette-list'), catalog, (type) => addAt(type, view.viewCenter()));
  // Double-click on the canvas opens the node search there (instead of rete's zoom-in).
  $('canvas').addEventListener('dblclick', (e) => {
    if ((e.target as HTMLElement).closest('sg-node')) return;
    e.stopPropagation();
    const at = view.pointer();
    openQuickSearch({ x: e.clientX, y: e.clientY }, catalog, (type) => addAt(type, at));
  }, { capture: true });
  view.onDropLink = (from, at) => {
    const r = $('canvas').getBoundingClientRect();
    const { k, x, y } = view.area.area.transform;
    openQuickSearch({ x: r.left + at.x * k + x, y: r.top + at.y * k + y }, catalog, (type) => {
      const id = addAt(type, at);
      // The first socket input of that type, else the first widget that takes it.
      const inputs = catalog.get(type)!.inputs;
      const input = inputs.find((i) => i.kind === 'socket' && typesCompatible(from.type, i.type)) ?? inputs.find((i) => typesCompatible(from.type, inputType(i)));
      if (input) graph.connect(from.node, from.output, id, input.name);
    }, from.type);
  };

  // Keyboard: undo/redo (mine only), delete, copy/paste, queue.
  const CLIPBOARD = 'sanagraph-clipboard';
  document.addEventListener('keydown', (e) => {
    const target = e.target as HTMLElement;
    if (target.closest('input, textarea, select')) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === 'Enter') { e.preventDefault(); void runner.queue(); }
    else if (mod && (e.key === 'z' || e.key === 'Z') && !e.shiftKey) { e.preventDefault(); graph.undoManager.undo(); }
    else if (mod && (e.key === 'y' || ((e.key === 'z' || e.key === 'Z') && e.shiftKey))) { e.preventDefault(); graph.undoManager.redo(); }
    else if (e.key === 'Delete' || e.key === 'Backspace') graph.remove(view.selectedIds());
    else if (mod && e.key === 'c') localStorage.setItem(CLIPBOARD, JSON.stringify(graph.fragment(view.selectedIds())));
    else if (mod && e.key === 'v') {
      const text = localStorage.getItem(CLIPBOARD);
      if (text) {
        const ids = graph.paste(JSON.parse(text), view.pointer());
        void view.scheduleReconcile().then(() => view.select(ids));
      }
    } else if (mod && e.key === 'a') { e.preventDefault(); void view.select(view.editor.getNodes().map((n) => n.id)); }
  });
  $('canvas').addEventListener('pointermove', () => presence.moved());

  // Toolbar
  const click = (id: string, fn: () => unknown) => { $(id).onclick = () => void fn(); };
  click('btn-queue', () => runner.queue());
  click('btn-undo', () => graph.undoManager.undo());
  click('btn-redo', () => graph.undoManager.redo());
  click('btn-fit', () => view.fit());
  click('btn-new', async () => { const n = await askName('Name of the new workflow', 'untitled'); if (n && await saveAs(n, { format: 'sanagraph/workflow@1', nodes: {} })) go(n); });
  click('btn-open', () => showOpenDialog(go, async (template) => {
    const n = await askName(`Name of the new workflow (from the template "${template}")`, `my ${template}`);
    const body = n && await (await fetch(`/api/templates/${encodeURIComponent(template)}`)).json();
    if (n && body && await saveAs(n, body)) go(n);
  }));
  click('btn-save-as', async () => { const n = await askName('Save a copy as', `${name} copy`); if (n && await saveAs(n, graph.toWorkflow())) go(n); });
  click('btn-rename', async () => {
    const n = await askName('Rename this workflow to', name);
    if (!n || n === name || !(await saveAs(n, graph.toWorkflow()))) return;
    await fetch(`/api/workflows/${encodeURIComponent(name)}`, { method: 'DELETE' });
    go(n);
  });
  click('btn-export', () => download(`${name}.json`, graph.toWorkflow()));
  click('btn-export-api', () => download(`${name}.api.json`, toComfyApi(graph.toWorkflow())));
  const fileInput = $<HTMLInputElement>('file-input');
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
  click('btn-import', () => fileInput.click());
  fileInput.onchange = () => { if (fileInput.files?.[0]) void importFile(fileInput.files[0]); fileInput.value = ''; };
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) void importFile(file);
  });

  await synced;
  performance.mark('sanagraph:synced');
  await view.start();
  performance.mark('sanagraph:rendered');

  /** The live editor, for extensions and tests (as ComfyUI's `app`). Documented in docs/editor.md. */
  const app = {
    workflow: name,
    catalog,
    doc,
    provider,
    presence,
    graph: {
      toWorkflow: () => graph.toWorkflow(),
      addNode: (type: string, pos: Position = view.viewCenter()) => graph.addNode(type, pos),
      connect: (fromId: string, outputIndex: number, toId: string, inputName: string) => graph.connect(fromId, outputIndex, toId, inputName),
      disconnect: (toId: string, inputName: string) => graph.disconnect(toId, inputName),
      setWidget: (id: string, input: string, value: unknown) => graph.setWidget(id, input, value),
      setTitle: (id: string, title: string) => graph.setTitle(id, title),
      move: (id: string, pos: Position) => graph.move(id, pos),
      remove: (ids: string[]) => graph.remove(ids),
      load: (workflow: NativeWorkflow) => graph.replace(workflow),
    },
    undo: () => graph.undoManager.undo(),
    redo: () => graph.undoManager.redo(),
    queue: () => runner.queue(),
    view,
    /** Resolves once the canvas shows what the document holds. */
    settled: () => view.scheduleReconcile(),
    GraphError,
  };
  (window as unknown as { app: typeof app }).app = app;
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  console.error(e);
  toast(`The editor failed to start: ${(e as Error).message}`);
});
