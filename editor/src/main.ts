import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { mountNodeAdding } from './adding.ts';
import { parseCatalog, type NodeSpec } from './catalog.ts';
import { Graph, GraphError } from './graph.ts';
import type { NodeHost } from './node-view.ts';
import { Presence } from './presence.ts';
import { Runner } from './run.ts';
import { mountShortcuts } from './shortcuts.ts';
import { isWorkflowName } from '../../server/workflow-name.ts';
import { $, onClick, toast } from './ui.ts';
import { GraphView } from './view.ts';
import { mountWorkflowActions } from './workflow-actions.ts';
import { linkKey, nodeInputs, workflowDoc, type NativeWorkflow, type Position } from './workflow-doc.ts';

/**
 * The editor page: `/?workflow=<name>` opens the shared document of that workflow (the shipped
 * demo when no name is given) and everyone on the same address edits it together.
 */

function workflowName(): string {
  const params = new URLSearchParams(location.search);
  const name = params.get('workflow');
  if (name && isWorkflowName(name)) return name;
  params.set('workflow', 'demo');
  history.replaceState(null, '', `?${params}`);
  return 'demo';
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
    gesture: () => graph.gesture(),
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

  const runner = new Runner(view, $('queue-list'), $('gallery'), name);
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

  mountNodeAdding(catalog, graph, view);
  mountShortcuts(graph, view, runner);
  $('canvas').addEventListener('pointermove', () => presence.moved());
  onClick('btn-queue', () => runner.queue());
  onClick('btn-undo', () => graph.undoManager.undo());
  onClick('btn-redo', () => graph.undoManager.redo());
  onClick('btn-fit', () => view.fit());
  mountWorkflowActions(name, graph, view);

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
