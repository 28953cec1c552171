import { inputType, type NodeSpec } from './catalog.ts';
import { typesCompatible, type Graph } from './graph.ts';
import { mountPalette, openQuickSearch } from './palette.ts';
import { $ } from './ui.ts';
import type { GraphView } from './view.ts';
import type { Position } from './workflow-doc.ts';

/**
 * The ways to add a node: the palette (at the view's centre), a double-click on the canvas (search
 * there), and a link dropped in empty space (search narrowed to its type; the pick gets the link).
 */
export function mountNodeAdding(catalog: Map<string, NodeSpec>, graph: Graph, view: GraphView): void {
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
}
