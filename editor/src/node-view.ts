import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { ClassicPreset } from 'rete';
import { inputType, type NodeSpec, type WidgetSpec } from './catalog.ts';

const TYPE_COLORS: Record<string, string> = {
  LATENT: '#ff9cf9', CONDITIONING: '#ffa931', IMAGE: '#64b5f6', SANA_MODEL: '#b39ddb',
  TEXT_ENCODER: '#ffd500', DCAE: '#ff6e6e', INT: '#7fd17f', FLOAT: '#a4e4a4', STRING: '#9ccc65', BOOLEAN: '#4db6ac',
};

/** A colour per data type, the same in every session (sockets and links are coloured by it). */
export function typeColor(type: string): string {
  if (TYPE_COLORS[type]) return TYPE_COLORS[type];
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360} 70% 65%)`;
}

export class TypedSocket extends ClassicPreset.Socket {}

/** What a node shows besides its graph data: run state, errors, images, who else selected it. */
export interface NodeStatus {
  executing?: boolean;
  progress?: { value: number; max: number };
  errors?: string[];
  badInputs?: Set<string>;
  images?: string[];
  remoteSelection?: string[];
}

export interface NodeHost {
  widgetValue(id: string, input: string): unknown;
  /** The node feeding this input, if it is linked. */
  linkedFrom(id: string, input: string): string | undefined;
  setWidget(id: string, input: string, value: unknown): void;
  /** Starts a gesture that is one undo step until the returned function is called (Graph.gesture). */
  gesture(): () => void;
  setTitle(id: string, title: string): void;
  seedMode(id: string): 'randomize' | 'fixed';
  setSeedMode(id: string, mode: 'randomize' | 'fixed'): void;
}

export const NODE_WIDTH = 300;

/** A node's height before it is laid out (for framing the view without measuring the DOM). */
export function estimateHeight(spec: NodeSpec, compact: boolean): number {
  let h = 36 + 10 + 22 * spec.outputs.length;
  for (const input of spec.inputs) {
    if (input.kind === 'socket') h += 22;
    else if (!compact) h += input.widget === 'string' && input.options.multiline ? 86 : input.widget === 'seed' ? 44 : 26;
  }
  return h;
}

export class ViewNode extends ClassicPreset.Node<Record<string, TypedSocket>, Record<string, TypedSocket>> {
  status: NodeStatus = {};
  width = NODE_WIDTH;
  /** Drawn without widgets (zoomed far out). */
  compact = false;
  private measured?: { compact: boolean; height: number };

  /** rete's zoomAt reads `width`/`height` when set, instead of measuring every node's element. */
  get height(): number {
    return this.measured?.compact === this.compact ? this.measured.height : estimateHeight(this.spec, this.compact);
  }

  /** Takes the real height from the node's element (when it is laid out). */
  measure(element: HTMLElement | undefined): void {
    if (element?.offsetHeight) this.measured = { compact: this.compact, height: element.offsetHeight };
  }
  /** The node's document data when last rendered (the view re-renders when it changes). */
  data?: string;

  constructor(id: string, readonly spec: NodeSpec, title: string, readonly host: NodeHost) {
    super(title);
    this.id = id;
    for (const input of spec.inputs) {
      // Every input has a socket, widgets too (a linked widget takes its value from the link).
      // "multiple": the document keeps one link per input; rete must not drop the old link before ours is checked.
      this.addInput(input.name, new ClassicPreset.Input(new TypedSocket(inputType(input)), input.name, true));
    }
    spec.outputs.forEach((o, i) => this.addOutput(String(i), new ClassicPreset.Output(new TypedSocket(o.type), o.name)));
  }
}

type Emit = (signal: unknown) => void;

/** Stops pointer and key events in widgets from dragging the node or reaching the editor's shortcuts. */
const keep = (e: Event) => e.stopPropagation();

/** The node as rendered on the canvas (a lit element; rete places and moves it). */
export class NodeElement extends LitElement {
  static properties = { node: { attribute: false }, emit: { attribute: false }, version: { type: Number } };
  declare node: ViewNode;
  declare emit: Emit;
  declare version: number;

  protected createRenderRoot() {
    return this; // light DOM: the page's stylesheet applies and tests can find widgets
  }

  protected updated(_changed: PropertyValues): void {
    this.dataset.nodeId = this.node.id;
  }

  private socket(side: 'input' | 'output', key: string, socket: TypedSocket): TemplateResult {
    return html`<span class="socket-slot"><rete-ref .data=${{ type: 'socket', side, key, nodeId: this.node.id, payload: socket }} .emit=${this.emit}></rete-ref></span>`;
  }

  private widget(w: WidgetSpec): TemplateResult {
    const { node } = this;
    const from = node.host.linkedFrom(node.id, w.name);
    const socket = this.socket('input', w.name, node.inputs[w.name]!.socket);
    if (from) {
      return html`<div class="widget linked" data-input=${w.name}>${socket}<span class="widget-name">${w.name}</span><span class="linked-from">from ${from}</span></div>`;
    }
    const value = node.host.widgetValue(node.id, w.name);
    const set = (v: unknown) => node.host.setWidget(node.id, w.name, v);
    const bad = node.status.badInputs?.has(w.name) ? 'bad' : '';
    const number = (parse: (s: string) => number) => html`<input type="number" name=${w.name} class=${bad}
      .value=${String(value ?? '')} min=${w.options.min ?? nothing} max=${w.options.max ?? nothing} step=${w.options.step ?? (w.widget === 'float' ? 'any' : 1)}
      @change=${(e: Event) => { const v = parse((e.target as HTMLInputElement).value); if (Number.isFinite(v)) set(v); }}>`;
    let control: TemplateResult;
    switch (w.widget) {
      case 'int':
        control = number((s) => Math.round(Number(s)));
        break;
      case 'float':
        control = number(Number);
        break;
      case 'seed':
        control = html`${number((s) => Math.round(Number(s)))}<label class="seed-mode" title="a new random seed after each run">
          <input type="checkbox" .checked=${node.host.seedMode(node.id) === 'randomize'}
            @change=${(e: Event) => node.host.setSeedMode(node.id, (e.target as HTMLInputElement).checked ? 'randomize' : 'fixed')}>randomize</label>`;
        break;
      case 'boolean':
        control = html`<input type="checkbox" name=${w.name} .checked=${value === true} @change=${(e: Event) => set((e.target as HTMLInputElement).checked)}>`;
        break;
      case 'choice':
        control = html`<select name=${w.name} class=${bad} @change=${(e: Event) => set((e.target as HTMLSelectElement).value)}>
          ${(w.options.choices ?? []).map((c) => html`<option .selected=${c === value} value=${c}>${c}</option>`)}</select>`;
        break;
      default:
        control = w.options.multiline
          ? html`<textarea name=${w.name} class=${bad} rows="4" .value=${String(value ?? '')} @change=${(e: Event) => set((e.target as HTMLTextAreaElement).value)}></textarea>`
          : html`<input type="text" name=${w.name} class=${bad} .value=${String(value ?? '')} @change=${(e: Event) => set((e.target as HTMLInputElement).value)}>`;
    }
    const numeric = w.widget === 'int' || w.widget === 'float' || w.widget === 'seed';
    return html`<div class="widget" data-input=${w.name} title=${w.options.tooltip ?? ''}
      @pointerdown=${keep} @keydown=${keep} @dblclick=${keep}>${socket}<span class="widget-name ${numeric ? 'draggable' : ''}"
      @pointerdown=${numeric ? (e: PointerEvent) => this.dragNumber(e, w) : nothing}>${w.name}</span>${control}</div>`;
  }

  /** Zoomed far out, a widget shows only when linked, as a socket row (its link needs an end). */
  private compactWidget(w: WidgetSpec): TemplateResult | typeof nothing {
    const { node } = this;
    if (!node.host.linkedFrom(node.id, w.name)) return nothing;
    return html`<div class="input" data-input=${w.name}>${this.socket('input', w.name, node.inputs[w.name]!.socket)}<span class="label">${w.name}</span></div>`;
  }

  /** Dragging a number widget's name left or right changes it by its step per 4 pixels (Shift: ×10). */
  private dragNumber(e: PointerEvent, w: WidgetSpec): void {
    const { node } = this;
    const start = Number(node.host.widgetValue(node.id, w.name) ?? 0);
    const step = w.options.step ?? (w.widget === 'float' ? 0.1 : 1);
    const target = e.currentTarget as HTMLElement;
    target.setPointerCapture(e.pointerId);
    const x0 = e.clientX;
    const end = node.host.gesture(); // the whole drag is one undo step
    const move = (m: PointerEvent) => {
      const steps = Math.trunc((m.clientX - x0) / 4) * (m.shiftKey ? 10 : 1);
      let v = start + steps * step;
      if (w.options.min !== undefined) v = Math.max(w.options.min, v);
      if (w.options.max !== undefined) v = Math.min(w.options.max, v);
      v = w.widget === 'float' ? Number(v.toFixed(6)) : Math.round(v);
      node.host.setWidget(node.id, w.name, v);
    };
    const up = () => {
      end();
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
      target.removeEventListener('pointercancel', up);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
    target.addEventListener('pointercancel', up);
  }

  private lastTitleDown = 0;

  /**
   * A double-click on the title, detected from pointerdowns: rete moves a picked node to the front
   * (re-inserting its element), so the browser never fires click or dblclick on nodes.
   */
  private titlePointerDown(e: PointerEvent): void {
    if ((e.target as HTMLElement).closest('.title-edit')) return;
    const now = e.timeStamp;
    if (now - this.lastTitleDown < 400) {
      this.lastTitleDown = 0;
      const title = e.currentTarget as HTMLElement;
      setTimeout(() => this.editTitle(title), 0); // after rete's own pointer handling
    } else this.lastTitleDown = now;
  }

  /** Double-click on the title renames the node (Enter keeps, Escape cancels; empty restores the type's name). */
  private editTitle(title: HTMLElement): void {
    const input = document.createElement('input');
    input.className = 'title-edit';
    input.value = this.node.label;
    let finished = false;
    const done = (keep: boolean) => {
      if (finished) return; // removing the input blurs it: done runs once
      finished = true;
      input.remove();
      if (keep && input.value.trim() !== this.node.label) this.node.host.setTitle(this.node.id, input.value.trim() === this.node.spec.displayName ? '' : input.value.trim());
    };
    input.onkeydown = (k) => { k.stopPropagation(); if (k.key === 'Enter') done(true); if (k.key === 'Escape') done(false); };
    input.onblur = () => done(true);
    input.onpointerdown = keep;
    title.append(input);
    input.focus();
    input.select();
  }

  render() {
    const { node } = this;
    const { status, spec } = node;
    const classes = ['sg-node', status.executing ? 'executing' : '', status.errors?.length ? 'has-error' : '', node.selected ? 'selected' : ''].join(' ');
    const ring = status.remoteSelection?.length ? `box-shadow: 0 0 0 3px ${status.remoteSelection[0]}` : '';
    return html`<div class=${classes} style=${ring} data-type=${spec.type}>
      <div class="title" title=${spec.description} @pointerdown=${(e: PointerEvent) => this.titlePointerDown(e)}>${node.label}<span class="type">${node.label !== spec.displayName ? spec.displayName : ''}</span></div>
      ${status.progress ? html`<div class="progress"><div style="width:${(100 * status.progress.value) / status.progress.max}%"></div></div>` : nothing}
      ${spec.outputs.map((o, i) => html`<div class="output" data-output=${i}>
        <span class="label" style="color:${typeColor(o.type)}">${o.name}</span>${this.socket('output', String(i), node.outputs[String(i)]!.socket)}</div>`)}
      ${spec.inputs.map((input) => input.kind === 'socket'
        ? html`<div class="input ${status.badInputs?.has(input.name) ? 'bad' : ''}" data-input=${input.name}>${this.socket('input', input.name, node.inputs[input.name]!.socket)}
            <span class="label" style="color:${typeColor(input.type)}">${input.name}${input.optional ? '?' : ''}</span></div>`
        : node.compact ? this.compactWidget(input) : this.widget(input))}
      ${status.errors?.length && !node.compact ? html`<ul class="errors">${status.errors.map((e) => html`<li>${e}</li>`)}</ul>` : nothing}
      ${status.images?.length ? html`<div class="images">${status.images.map((src) => html`<img src=${src} alt="output">`)}</div>` : nothing}
    </div>`;
  }
}

/** Sockets: a dot in the colour of their type, with the type as tooltip. */
export function socketTemplate(socket: TypedSocket): TemplateResult {
  return html`<span class="sg-socket" title=${socket.name} style="display:inline-block;width:14px;height:14px;border-radius:50%;
    border:2px solid #1b1b1f;background:${typeColor(socket.name)};vertical-align:middle;cursor:crosshair"></span>`;
}

customElements.define('sg-node', NodeElement);
