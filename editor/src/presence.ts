import type { Awareness } from 'y-protocols/awareness';
import type { GraphView } from './view.ts';

/**
 * Who is here, through Yjs awareness: each participant's name and colour, their cursor (in graph
 * coordinates, so it lands on the same spot at any zoom) and their selection.
 */
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990'];
const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Linus'];

interface PeerState { user?: { name: string; color: string }; cursor?: { x: number; y: number } | null; selection?: string[] }

export class Presence {
  private readonly layer = document.createElement('div');
  private lastSelection = '';

  constructor(readonly awareness: Awareness, private readonly view: GraphView, private readonly peers: HTMLElement, nameInput: HTMLInputElement) {
    const stored = localStorage.getItem('sanagraph-user');
    const user = stored ? JSON.parse(stored) as { name: string; color: string }
      : { name: NAMES[Math.floor(Math.random() * NAMES.length)], color: COLORS[Math.floor(Math.random() * COLORS.length)] };
    localStorage.setItem('sanagraph-user', JSON.stringify(user));
    awareness.setLocalStateField('user', user);
    nameInput.value = user.name;
    nameInput.onchange = () => {
      const next = { ...user, name: nameInput.value.trim().slice(0, 40) || user.name };
      localStorage.setItem('sanagraph-user', JSON.stringify(next));
      awareness.setLocalStateField('user', next);
    };
    this.layer.className = 'cursors';
    view.area.area.content.holder.append(this.layer);
    // Our own changes (every pointer move) show nothing here: only other people are drawn.
    awareness.on('change', (_changes: unknown, origin: unknown) => { if (origin !== 'local') this.render(); });
    view.area.addPipe((ctx) => {
      if (ctx.type === 'nodepicked' || ctx.type === 'pointerup') queueMicrotask(() => this.shareSelection());
      return ctx;
    });
  }

  /** The local pointer moved: share it (graph coordinates). */
  moved(): void {
    const { x, y } = this.view.pointer();
    this.awareness.setLocalStateField('cursor', { x: Math.round(x), y: Math.round(y) });
  }

  private shareSelection(): void {
    const ids = this.view.selectedIds();
    const key = ids.join(',');
    if (key === this.lastSelection) return;
    this.lastSelection = key;
    this.awareness.setLocalStateField('selection', ids);
  }

  /** Other participants, by Yjs client id. */
  others(): Map<number, PeerState> {
    const states = new Map(this.awareness.getStates() as Map<number, PeerState>);
    states.delete(this.awareness.clientID);
    return states;
  }

  private render(): void {
    const others = [...this.others()].filter(([, s]) => s.user);
    this.peers.replaceChildren(...others.map(([id, s]) => {
      const dot = document.createElement('span');
      dot.className = 'peer';
      dot.dataset.clientId = String(id);
      dot.style.background = s.user!.color;
      dot.textContent = s.user!.name.slice(0, 2);
      dot.title = s.user!.name;
      return dot;
    }));
    this.layer.replaceChildren(...others.filter(([, s]) => s.cursor).map(([id, s]) => {
      const c = document.createElement('div');
      c.className = 'remote-cursor';
      c.dataset.clientId = String(id);
      c.style.transform = `translate(${s.cursor!.x}px, ${s.cursor!.y}px)`;
      c.style.color = s.user!.color;
      c.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16"><path d="M0 0 L0 13 L4 9 L7 15 L9 14 L6 8 L12 8 Z" fill="currentColor"/></svg>';
      const label = document.createElement('span');
      label.textContent = s.user!.name;
      label.style.background = s.user!.color;
      c.append(label);
      return c;
    }));
    const selectedBy = new Map<string, string[]>();
    for (const [, s] of others) for (const id of s.selection ?? []) selectedBy.set(id, [...(selectedBy.get(id) ?? []), s.user!.color]);
    const changed: string[] = [];
    for (const n of this.view.editor.getNodes()) {
      const colors = selectedBy.get(n.id);
      if (String(colors) !== String(n.status.remoteSelection)) {
        n.status.remoteSelection = colors;
        changed.push(n.id);
      }
    }
    void this.view.refresh(changed);
  }
}
