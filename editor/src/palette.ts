import { inputType, type NodeSpec } from './catalog.ts';
import { typesCompatible } from './graph.ts';

/**
 * Fuzzy match: every character of the query, in order, in the name (case-insensitive). Scores
 * favour matches at word starts and consecutive runs; undefined when it does not match.
 */
export function fuzzyScore(query: string, text: string): number | undefined {
  const q = query.toLowerCase().replace(/\s+/g, '');
  const t = text.toLowerCase();
  if (!q) return 0;
  let score = 0;
  let at = -1;
  let run = 0;
  for (const ch of q) {
    const next = t.indexOf(ch, at + 1);
    if (next < 0) return undefined;
    run = next === at + 1 ? run + 1 : 0;
    const wordStart = next === 0 || /[\s/_-]/.test(t[next - 1]) || (text[next] >= 'A' && text[next] <= 'Z');
    score += 1 + run * 2 + (wordStart ? 3 : 0) - Math.min(next - at - 1, 5) * 0.2;
    at = next;
  }
  return score - t.length * 0.01;
}

/** Node types matching a query, best first (name, display name and category are searched). */
export function searchNodes(specs: Iterable<NodeSpec>, query: string, accepts?: string): NodeSpec[] {
  const scored: [number, NodeSpec][] = [];
  for (const spec of specs) {
    if (accepts && !spec.inputs.some((i) => typesCompatible(accepts, inputType(i)))) continue;
    const s = Math.max(fuzzyScore(query, spec.displayName) ?? -Infinity, fuzzyScore(query, spec.type) ?? -Infinity, (fuzzyScore(query, spec.category) ?? -Infinity) - 2);
    if (s > -Infinity) scored.push([s, spec]);
  }
  return scored.sort((a, b) => b[0] - a[0] || a[1].displayName.localeCompare(b[1].displayName)).map(([, s]) => s);
}

/** The sidebar: categories, or search results while the box has text. Clicking adds a node. */
export function mountPalette(box: HTMLInputElement, list: HTMLElement, specs: Map<string, NodeSpec>, add: (type: string) => void): void {
  const item = (spec: NodeSpec) => {
    const b = document.createElement('button');
    b.className = 'palette-item';
    b.dataset.type = spec.type;
    b.textContent = spec.displayName;
    b.title = `${spec.type}: ${spec.description}`;
    b.onclick = () => add(spec.type);
    return b;
  };
  const show = () => {
    list.replaceChildren();
    if (box.value.trim()) {
      for (const spec of searchNodes(specs.values(), box.value)) list.append(item(spec));
      return;
    }
    const byCategory = new Map<string, NodeSpec[]>();
    for (const spec of specs.values()) byCategory.set(spec.category, [...(byCategory.get(spec.category) ?? []), spec]);
    for (const [category, members] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
      const details = document.createElement('details');
      details.open = true;
      const summary = document.createElement('summary');
      summary.textContent = category;
      details.append(summary, ...members.sort((a, b) => a.displayName.localeCompare(b.displayName)).map(item));
      list.append(details);
    }
  };
  box.oninput = show;
  box.onkeydown = (e) => {
    if (e.key === 'Enter') list.querySelector<HTMLButtonElement>('.palette-item')?.click();
  };
  show();
}

/** A floating search box at a screen point (double-click on the canvas, or a link dropped in empty space). */
export function openQuickSearch(at: { x: number; y: number }, specs: Map<string, NodeSpec>, pick: (type: string) => void, accepts?: string): void {
  document.querySelector('.quick-search')?.remove();
  const panel = document.createElement('div');
  panel.className = 'quick-search';
  panel.style.left = `${at.x}px`;
  panel.style.top = `${at.y}px`;
  const input = document.createElement('input');
  input.placeholder = accepts ? `Nodes that take ${accepts}…` : 'Add a node…';
  const results = document.createElement('div');
  const close = () => panel.remove();
  const show = () => {
    results.replaceChildren(...searchNodes(specs.values(), input.value, accepts).slice(0, 12).map((spec) => {
      const b = document.createElement('button');
      b.className = 'palette-item';
      b.dataset.type = spec.type;
      b.textContent = `${spec.displayName}`;
      b.title = spec.description;
      b.onclick = () => { close(); pick(spec.type); };
      return b;
    }));
  };
  input.oninput = show;
  input.onkeydown = (e) => {
    e.stopPropagation();
    if (e.key === 'Escape') close();
    if (e.key === 'Enter') results.querySelector<HTMLButtonElement>('button')?.click();
  };
  panel.append(input, results);
  panel.addEventListener('pointerdown', (e) => e.stopPropagation());
  document.body.append(panel);
  setTimeout(() => document.addEventListener('pointerdown', close, { once: true }), 0);
  show();
  input.focus();
}
