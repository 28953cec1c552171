import { html } from 'lit';
import { ClassicPreset, NodeEditor, type GetSchemes } from 'rete';
import { AreaExtensions, AreaPlugin } from 'rete-area-plugin';
import { ConnectionPlugin, Presets as ConnectionPresets } from 'rete-connection-plugin';
import { LitPlugin, Presets, type LitArea2D } from '@retejs/lit-plugin';
import * as Y from 'yjs';
import type { NodeSpec } from './catalog.ts';
import { Graph, GraphError } from './graph.ts';
import { IndexedSocketPosition } from './socket-positions.ts';
import { estimateHeight, NODE_WIDTH, socketTemplate, typeColor, ViewNode, type NodeHost, type TypedSocket } from './node-view.ts';
import { linkTarget, liveLinks, type Position } from './workflow-doc.ts';

type Connection = ClassicPreset.Connection<ClassicPreset.Node, ClassicPreset.Node>;
type Schemes = GetSchemes<ViewNode, Connection>;
type AreaExtra = LitArea2D<Schemes>;

/**
 * The canvas: rete renders what the shared document holds. The document is the only truth —
 * edits made here go to it (through Graph), and `reconcile` brings rete in line with it after
 * every change, redrawing only the nodes the change touched (a drag moves one node per step).
 */
export class GraphView {
  readonly editor = new NodeEditor<Schemes>();
  readonly area: AreaPlugin<Schemes, AreaExtra>;
  private readonly connection = new ConnectionPlugin<Schemes, AreaExtra>();
  private readonly render = new LitPlugin<Schemes, AreaExtra>();
  /** Ids being applied from the document: their rete events must not be written back. */
  private readonly applying = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private pending = false;
  /** Nodes changed since the last reconcile; `all` after nodes were added or removed (their links come and go too). */
  private dirty: Set<string> | 'all' = 'all';
  private renderVersion = 0;
  /** Ends the node drag in progress (Graph.gesture). */
  private endDrag?: () => void;
  readonly selector = AreaExtensions.selector();
  onProblem: (message: string) => void = () => {};
  /** A link dragged from an output into empty space: offer nodes that take that type. */
  onDropLink: (from: { node: string; output: number; type: string }, at: Position) => void = () => {};

  constructor(readonly container: HTMLElement, readonly graph: Graph, private readonly catalog: Map<string, NodeSpec>, private readonly host: NodeHost) {
    this.area = new AreaPlugin<Schemes, AreaExtra>(container);
    AreaExtensions.selectableNodes(this.area, this.selector, { accumulating: AreaExtensions.accumulateOnCtrl() });
    this.render.addPreset(Presets.classic.setup({
      socketPositionWatcher: new IndexedSocketPosition<Schemes, AreaExtra>(),
      customize: {
        node: (data) => () => html`<sg-node .node=${data.payload} .emit=${(s: AreaExtra) => this.area.emit(s)} .version=${++this.renderVersion}></sg-node>`,
        socket: (data) => () => socketTemplate(data.payload as TypedSocket),
        connection: (data) => {
          const from = this.editor.getNode(data.payload.source);
          const type = from?.outputs[data.payload.sourceOutput]?.socket.name ?? '';
          return ({ path }) => html`<svg data-testid="connection" style="overflow:visible;position:absolute;pointer-events:none;width:9999px;height:9999px">
            <path d=${path} fill="none" stroke=${typeColor(type)} stroke-width="4px" style="pointer-events:auto"></path></svg>`;
        },
      },
    }));
    this.connection.addPreset(ConnectionPresets.classic.setup());
    this.editor.use(this.area);
    this.area.use(this.connection);
    this.area.use(this.render);
    AreaExtensions.simpleNodesOrder(this.area);
    this.watchEdits();
  }

  /**
   * Shows the document and follows it from now on: the view is framed on the document first (from
   * positions and estimated sizes), so nodes are drawn once, at the right level of detail.
   */
  async start(): Promise<void> {
    await this.frame(estimatedRect(this.graph.wd, this.catalog));
    this.noteChanges();
    // Yjs calls the observers (noteChanges) before afterTransaction.
    this.graph.wd.doc.on('afterTransaction', (tr) => { if (tr.changed.size) void this.scheduleReconcile(); });
    this.area.addPipe((ctx) => {
      if (ctx.type === 'zoomed') void this.updateDetail();
      return ctx;
    });
    await this.scheduleReconcile();
  }

  /** Below this zoom, nodes are drawn without their widgets (unreadable there; a 500-node graph draws 4× faster). */
  static readonly DETAIL_ZOOM = 0.45;
  compact = false;

  private async updateDetail(): Promise<void> {
    const compact = this.area.area.transform.k < GraphView.DETAIL_ZOOM;
    if (compact === this.compact) return;
    this.compact = compact;
    for (const n of this.editor.getNodes()) n.compact = compact;
    await this.refresh();
  }

  /** Zooms and pans so `rect` (graph coordinates) fills the view, as rete's zoomAt does. */
  private async frame(rect: { left: number; top: number; right: number; bottom: number } | undefined): Promise<void> {
    if (!rect) return;
    const { clientWidth: w, clientHeight: h } = this.container;
    const k = Math.min((w / (rect.right - rect.left)) * 0.9, (h / (rect.bottom - rect.top)) * 0.9, 1);
    this.area.area.transform.x = w / 2 - ((rect.left + rect.right) / 2) * k;
    this.area.area.transform.y = h / 2 - ((rect.top + rect.bottom) / 2) * k;
    await this.area.area.zoom(k, 0, 0);
    this.compact = k < GraphView.DETAIL_ZOOM;
  }

  /** Rete events from the user's gestures → the document. */
  private watchEdits(): void {
    this.editor.addPipe((ctx) => {
      if (ctx.type === 'connectioncreate') {
        const c = ctx.data;
        if (this.isApplying(c.id)) return ctx;
        // Connections the user drags: check and write them to the document; reconcile draws them.
        try {
          this.graph.connect(c.source, Number(c.sourceOutput), c.target, c.targetInput as string);
        } catch (e) {
          if (e instanceof GraphError) this.onProblem(`Cannot connect: ${e.message}`);
          else throw e;
        }
        return undefined;
      }
      if (ctx.type === 'connectionremoved' && !this.isApplying(ctx.data.id)) {
        this.graph.disconnect(ctx.data.target, ctx.data.targetInput as string);
      }
      return ctx;
    });
    this.area.addPipe((ctx) => {
      if (ctx.type === 'nodetranslated') {
        const { id, position, previous } = ctx.data;
        // Rete announces a (0,0) → (0,0) move while creating a view: never write that.
        if (!this.isApplying(id) && (position.x !== previous.x || position.y !== previous.y)) {
          this.graph.move(id, { x: Math.round(position.x), y: Math.round(position.y) });
        }
      }
      if (ctx.type === 'nodepicked') this.endDrag = this.graph.gesture(); // one drag, one undo step
      if (ctx.type === 'pointerup') { this.endDrag?.(); this.endDrag = undefined; }
      return ctx;
    });
    this.connection.addPipe((ctx) => {
      if (ctx.type === 'connectiondrop') {
        const { initial, socket, created } = ctx.data;
        const type = this.editor.getNode(initial.nodeId)?.outputs[initial.key]?.socket.name;
        if (!socket && !created && initial.side === 'output' && type) {
          this.onDropLink({ node: initial.nodeId, output: Number(initial.key), type }, this.pointer());
        }
      }
      return ctx;
    });
  }

  private isApplying(id: string): boolean {
    return (this.applying.get(id) ?? 0) > 0;
  }

  private async apply<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.applying.set(id, (this.applying.get(id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.applying.set(id, this.applying.get(id)! - 1);
    }
  }

  /** The pointer in graph coordinates. */
  pointer(): Position {
    const { x, y } = this.area.area.pointer;
    return { x, y };
  }

  /** The centre of the visible part of the graph. */
  viewCenter(): Position {
    const { k, x, y } = this.area.area.transform;
    const r = this.container.getBoundingClientRect();
    return { x: (r.width / 2 - x) / k, y: (r.height / 2 - y) / k };
  }

  /** Marks the nodes each change touches: by key in the positions and links maps, by path below a node. */
  private noteChanges(): void {
    const wd = this.graph.wd;
    const touch = (id: string) => { if (this.dirty !== 'all') this.dirty.add(id); };
    wd.nodes.observeDeep((events) => {
      for (const e of events) {
        const id = e.path[0] as string | undefined; // none: nodes were added or removed
        // A new title also shows on the widgets it feeds ("from <title>"): renames are rare, redraw all.
        if (id === undefined || (e.path.length === 1 && e instanceof Y.YMapEvent && e.keysChanged.has('title'))) this.dirty = 'all';
        else touch(id);
      }
    });
    wd.positions.observe((e) => { for (const key of e.keysChanged) touch(key); });
    wd.links.observe((e) => { for (const key of e.keysChanged) touch(linkTarget(key)); });
  }

  scheduleReconcile(): Promise<void> {
    if (this.pending) return this.queue;
    this.pending = true;
    this.queue = this.queue.then(() => {
      this.pending = false;
      return this.reconcile();
    }).catch((e) => console.error('reconcile failed', e));
    return this.queue;
  }

  /** Brings rete in line with the document: an idempotent diff. */
  private async reconcile(): Promise<void> {
    const wd = this.graph.wd;
    const wanted = new Map(liveLinks(wd));
    for (const c of this.editor.getConnections()) {
      const l = wanted.get(c.id);
      if (!l || l.from !== c.source || String(l.output) !== c.sourceOutput) await this.apply(c.id, () => this.editor.removeConnection(c.id));
    }
    for (const n of this.editor.getNodes()) {
      const node = wd.nodes.get(n.id);
      if (!node || node.get('type') !== n.spec.type) {
        for (const c of this.editor.getConnections().filter((c) => c.source === n.id || c.target === n.id)) {
          await this.apply(c.id, () => this.editor.removeConnection(c.id));
        }
        await this.apply(n.id, () => this.editor.removeNode(n.id));
      }
    }
    // Nodes, then links, each batch concurrently: rete places sockets asynchronously (it polls
    // until they are laid out), so one-at-a-time would cost a timer tick per link.
    const dirty = this.dirty;
    this.dirty = new Set();
    const toSync = new Set(dirty === 'all' ? wd.nodes.keys() : [...dirty].filter((id) => wd.nodes.has(id)));
    // Which inputs are linked, and from what (a widget shows "from <title>"), for the nodes synced.
    const linked = new Map<string, string[]>();
    for (const l of wanted.values()) {
      if (toSync.has(l.to)) linked.set(l.to, [...(linked.get(l.to) ?? []), `${l.input}<${this.host.linkedFrom(l.to, l.input)}`]);
    }
    await Promise.all([...toSync].map((id) => this.syncNode(id, wd.nodes.get(id)!, linked.get(id)?.sort().join(',') ?? '')));
    const drawn = new Set(this.editor.getConnections().map((c) => c.id));
    await Promise.all([...wanted].map(([key, l]) => {
      if (drawn.has(key)) return undefined;
      const from = this.editor.getNode(l.from);
      const to = this.editor.getNode(l.to);
      // A link to an input that has no socket here (a linked widget from another tool) is kept, not drawn.
      if (!from?.outputs[String(l.output)] || !to?.inputs[l.input]) return undefined;
      const c = new ClassicPreset.Connection(from, String(l.output), to, l.input) as Connection;
      c.id = key;
      return this.apply(key, () => this.editor.addConnection(c));
    }));
  }

  private async syncNode(id: string, node: Y.Map<unknown>, linked: string): Promise<void> {
    const type = node.get('type') as string;
    let view = this.editor.getNode(id);
    const spec = this.catalog.get(type) ?? missingSpec(type);
    const title = (node.get('title') as string | undefined) || spec.displayName;
    const created = !view;
    if (!view) {
      view = new ViewNode(id, spec, title, this.host);
      view.compact = this.compact;
      await this.apply(id, () => this.editor.addNode(view!));
    } else if (view.label !== title) {
      view.label = title;
    }
    const p = this.graph.wd.positions.get(id);
    const nodeView = this.area.nodeViews.get(id);
    if (p && nodeView && (Math.round(nodeView.position.x) !== p.x || Math.round(nodeView.position.y) !== p.y)) {
      if (created) {
        // A node just created has no links yet and nobody listens for its moves: place it directly
        // (rete's translate is a full event round; 500 of them were a fifth of opening a big graph).
        nodeView.position = { x: p.x, y: p.y };
        nodeView.element.style.transform = `translate(${p.x}px, ${p.y}px)`;
      } else {
        await this.apply(id, () => this.area.translate(id, p));
      }
    }
    // Re-render only nodes whose data (widgets, title, which inputs are linked) changed: a 500-node graph stays cheap.
    const data = `${JSON.stringify(node.toJSON())}|${linked}`;
    if (view.data !== data) {
      if (view.data !== undefined) await this.area.update('node', id);
      view.data = data;
    }
  }

  /** Re-renders nodes after a change of their status (run state, errors, images, selection). */
  async refresh(ids?: Iterable<string>): Promise<void> {
    const nodes = ids ? [...ids].filter((id) => this.editor.getNode(id)) : this.editor.getNodes().map((n) => n.id);
    await Promise.all(nodes.map((id) => this.area.update('node', id)));
  }

  selectedIds(): string[] {
    return this.editor.getNodes().filter((n) => n.selected).map((n) => n.id);
  }

  async select(ids: string[]): Promise<void> {
    for (const n of this.editor.getNodes()) {
      const want = ids.includes(n.id);
      if (want !== n.selected) {
        n.selected = want;
        if (want) this.selector.add({ id: n.id, label: 'node', translate: () => {}, unselect: () => { n.selected = false; void this.area.update('node', n.id); } }, true);
        await this.area.update('node', n.id);
      }
    }
  }

  async fit(): Promise<void> {
    const nodes = this.editor.getNodes();
    for (const n of nodes) n.measure(this.area.nodeViews.get(n.id)?.element);
    if (nodes.length) await AreaExtensions.zoomAt(this.area, nodes, { scale: 0.9 });
  }

}

/** The document's extent from node positions and estimated node sizes (no DOM needed). */
function estimatedRect(wd: Graph['wd'], catalog: Map<string, NodeSpec>) {
  let rect: { left: number; top: number; right: number; bottom: number } | undefined;
  for (const [id, node] of wd.nodes.entries()) {
    const p = wd.positions.get(id);
    const spec = catalog.get(node.get('type') as string);
    if (!p || !spec) continue;
    const right = p.x + NODE_WIDTH;
    const bottom = p.y + estimateHeight(spec, false);
    rect = rect ? { left: Math.min(rect.left, p.x), top: Math.min(rect.top, p.y), right: Math.max(rect.right, right), bottom: Math.max(rect.bottom, bottom) }
      : { left: p.x, top: p.y, right, bottom };
  }
  return rect;
}

function missingSpec(type: string): NodeSpec {
  return { type, displayName: `${type} (not installed)`, category: 'missing', description: 'this node type is not installed on the server', outputNode: false, inputs: [], outputs: [] };
}
