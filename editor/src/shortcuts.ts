import type { Graph } from './graph.ts';
import type { Runner } from './run.ts';
import type { GraphView } from './view.ts';

/** Keyboard: queue, undo/redo (this person's), delete, copy/paste (across workflows), select all. */
const CLIPBOARD = 'sanagraph-clipboard';

export function mountShortcuts(graph: Graph, view: GraphView, runner: Runner): void {
  document.addEventListener('keydown', (e) => {
    if ((e.target as HTMLElement).closest('input, textarea, select')) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (mod && e.key === 'Enter') {
      e.preventDefault();
      void runner.queue();
    } else if (mod && key === 'z' && !e.shiftKey) {
      e.preventDefault();
      graph.undoManager.undo();
    } else if (mod && (key === 'y' || (key === 'z' && e.shiftKey))) {
      e.preventDefault();
      graph.undoManager.redo();
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      graph.remove(view.selectedIds());
    } else if (mod && key === 'c') {
      localStorage.setItem(CLIPBOARD, JSON.stringify(graph.fragment(view.selectedIds())));
    } else if (mod && key === 'v') {
      const text = localStorage.getItem(CLIPBOARD);
      if (!text) return;
      const ids = graph.paste(JSON.parse(text), view.pointer());
      void view.scheduleReconcile().then(() => view.select(ids));
    } else if (mod && key === 'a') {
      e.preventDefault();
      void view.select(view.editor.getNodes().map((n) => n.id));
    }
  });
}
