import type { BaseSchemes } from 'rete';
import { DOMSocketPosition } from 'rete-render-utils';

/**
 * rete-render-utils' socket position watcher, made linear for big graphs. The stock one scans
 * every socket of the graph on each lookup, notifies every link on each change, and measures each
 * socket as soon as it renders — between DOM writes, so every measurement re-lays out the page.
 * Opening a 500-node workflow was quadratic in all three. Same behaviour here, with lookups by
 * socket, listeners by node, and measurements batched into one read pass per task.
 */
type Side = 'input' | 'output';
interface Position { x: number; y: number }
interface Item { nodeId: string; key: string; side: Side; element: HTMLElement; position: Position }
interface ListenerData { nodeId: string; side?: Side; key?: string }

const keyOf = (d: { nodeId: string; side?: Side; key?: string }) => `${d.nodeId}\u0000${d.side}\u0000${d.key}`;

/** The storage's interface as rete-render-utils uses it, with an index by socket and by node. */
class IndexedSocketStorage {
  private readonly elements = new Map<HTMLElement, Item[]>();
  private readonly bySocket = new Map<string, Item>();
  private readonly byNode = new Map<string, Set<Item>>();

  getPosition(data: { nodeId: string; side: Side; key: string }): Position | null {
    return this.bySocket.get(keyOf(data))?.position ?? null;
  }

  add(data: Item): void {
    const existing = (this.elements.get(data.element) ?? []).filter((n) => keyOf(n) !== keyOf(data));
    this.elements.set(data.element, [...existing, data]);
    const old = this.bySocket.get(keyOf(data));
    if (old) this.byNode.get(old.nodeId)?.delete(old);
    this.bySocket.set(keyOf(data), data);
    let items = this.byNode.get(data.nodeId);
    if (!items) this.byNode.set(data.nodeId, (items = new Set()));
    items.add(data);
  }

  remove(element: HTMLElement): void {
    for (const item of this.elements.get(element) ?? []) {
      if (this.bySocket.get(keyOf(item)) === item) this.bySocket.delete(keyOf(item));
      this.byNode.get(item.nodeId)?.delete(item);
    }
    this.elements.delete(element);
  }

  snapshot(): Item[] {
    return [...this.elements.values()].flat();
  }

  ofNode(nodeId: string): Item[] {
    return [...(this.byNode.get(nodeId) ?? [])];
  }
}

/** Listeners by node id: a moved node notifies its own links only. */
class NodeEmitter {
  private readonly byNode = new Map<string, Set<(data: ListenerData) => void>>();

  emit(data: ListenerData): void {
    for (const listener of this.byNode.get(data.nodeId) ?? []) listener(data);
  }

  on(nodeId: string, listener: (data: ListenerData) => void): () => void {
    let set = this.byNode.get(nodeId);
    if (!set) this.byNode.set(nodeId, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  listen(): () => void {
    throw new Error('NodeEmitter listeners are registered by node (on)');
  }
}

interface Measurement { nodeId: string; side: Side; element: HTMLElement; resolve: (p: Position | null) => void }

export class IndexedSocketPosition<Schemes extends BaseSchemes, K> extends DOMSocketPosition<Schemes, K> {
  private readonly storage = new IndexedSocketStorage();
  private readonly nodeEmitter = new NodeEmitter();
  private queue: Measurement[] = [];

  constructor() {
    super();
    // The base class reads and writes through these two fields.
    (this as unknown as { sockets: IndexedSocketStorage }).sockets = this.storage;
    (this as unknown as { emitter: NodeEmitter }).emitter = this.nodeEmitter;
  }

  /** The socket's centre relative to its node, measured with the other sockets of this task. */
  calculatePosition(nodeId: string, side: Side, _key: string, element: HTMLElement): Promise<Position | null> {
    return new Promise((resolve) => {
      this.queue.push({ nodeId, side, element, resolve });
      if (this.queue.length === 1) setTimeout(() => this.measure(), 0);
    });
  }

  private measure(): void {
    const batch = this.queue;
    this.queue = [];
    const later: Measurement[] = [];
    for (const m of batch) {
      const view = this.area?.nodeViews.get(m.nodeId);
      if (!view?.element || !m.element.isConnected) {
        m.resolve(null); // the node or the socket is gone: it will never be laid out
        continue;
      }
      if (!m.element.offsetParent) {
        later.push(m); // not laid out yet (as getElementCenter, wait for it)
        continue;
      }
      let x = m.element.offsetLeft;
      let y = m.element.offsetTop;
      for (let parent = m.element.offsetParent as HTMLElement | null; parent && parent !== view.element; parent = parent.offsetParent as HTMLElement | null) {
        x += parent.offsetLeft + parent.clientLeft;
        y += parent.offsetTop + parent.clientTop;
      }
      m.resolve({ x: x + m.element.offsetWidth / 2, y: y + m.element.offsetHeight / 2 });
    }
    if (later.length) {
      this.queue.push(...later);
      setTimeout(() => this.measure(), 16);
    }
  }

  listen(nodeId: string, side: Side, key: string, change: (position: Position) => void): () => void {
    const handler = (data: ListenerData) => {
      if ((data.key && data.side !== side) || (data.side && data.key !== key)) return;
      const position = this.storage.getPosition({ nodeId, side, key });
      const view = this.area?.nodeViews.get(nodeId);
      if (position && view) change({ x: position.x + view.position.x, y: position.y + view.position.y });
    };
    const off = this.nodeEmitter.on(nodeId, handler);
    for (const item of this.storage.ofNode(nodeId)) handler(item);
    return off;
  }
}
