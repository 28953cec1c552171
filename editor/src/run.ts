import type { GraphView } from './view.ts';

/**
 * Running workflows: queueing through `/prompt`, the server's WebSocket events (ComfyUI's
 * messages) shown on the nodes, the queue panel and the gallery.
 */
interface ImageRef { filename: string; subfolder: string; type: string }
interface NodeErrors { [id: string]: { errors: { message: string; details?: string; extra_info?: { input_name?: string } }[] } }

export const clientId = crypto.randomUUID();

export const imageUrl = (img: ImageRef): string =>
  `/view?${new URLSearchParams({ filename: img.filename, subfolder: img.subfolder, type: img.type })}`;

export class Runner {
  private socket?: WebSocket;
  private executing?: string;
  onToast: (message: string) => void = () => {};
  /** Called after each run with the seeds to randomise. */
  onFinished: () => void = () => {};

  /** @param workflow the open workflow's name: sent with each prompt, shown in everyone's queue panel */
  constructor(private readonly view: GraphView, private readonly queueList: HTMLElement, private readonly gallery: HTMLElement, private readonly workflow: string) {}

  connect(): void {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/ws?clientId=${clientId}`);
    this.socket = ws;
    ws.onmessage = (m) => { if (typeof m.data === 'string') this.onMessage(JSON.parse(m.data)); };
    ws.onclose = () => setTimeout(() => this.connect(), 1000);
    void this.refreshQueue();
  }

  /** Sends the graph to `/prompt`; shows validation errors on the nodes. Returns the prompt id. */
  async queue(): Promise<string | undefined> {
    this.clearErrors();
    const res = await fetch('/prompt', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: this.view.graph.toWorkflow(), client_id: clientId, extra_data: { workflow: this.workflow } }),
    });
    const body = await res.json();
    if (!res.ok) {
      this.showErrors(body.node_errors ?? {});
      this.onToast(body.error?.message ?? `the server refused the workflow (${res.status})`);
      return undefined;
    }
    void this.refreshQueue();
    return body.prompt_id as string;
  }

  private clearErrors(): void {
    const touched: string[] = [];
    for (const n of this.view.editor.getNodes()) {
      if (n.status.errors || n.status.badInputs) touched.push(n.id);
      n.status.errors = undefined;
      n.status.badInputs = undefined;
    }
    void this.view.refresh(touched);
  }

  private showErrors(errors: NodeErrors): void {
    for (const [id, { errors: list }] of Object.entries(errors)) {
      const node = this.view.editor.getNode(id);
      if (!node) continue;
      node.status.errors = list.map((e) => e.details || e.message);
      node.status.badInputs = new Set(list.map((e) => e.extra_info?.input_name).filter((n): n is string => !!n));
    }
    void this.view.refresh(Object.keys(errors));
  }

  private setExecuting(id: string | undefined): void {
    const before = this.executing;
    this.executing = id;
    for (const n of [before, id]) {
      const node = n ? this.view.editor.getNode(n) : undefined;
      if (!node) continue;
      node.status.executing = n === id;
      if (n !== id) node.status.progress = undefined;
      void this.view.refresh([n!]);
    }
  }

  private onMessage(msg: { type: string; data: Record<string, unknown> }): void {
    const d = msg.data ?? {};
    switch (msg.type) {
      case 'status':
        void this.refreshQueue();
        break;
      case 'executing':
        this.setExecuting((d.display_node ?? d.node ?? undefined) as string | undefined);
        break;
      case 'progress': {
        const node = this.view.editor.getNode((d.display_node ?? d.node) as string);
        if (node) {
          node.status.progress = { value: d.value as number, max: d.max as number };
          void this.view.refresh([node.id]);
        }
        break;
      }
      case 'executed': {
        const images = ((d.output as { images?: ImageRef[] })?.images ?? []).map(imageUrl);
        const node = this.view.editor.getNode((d.display_node ?? d.node) as string);
        if (node && images.length) {
          node.status.images = images;
          void this.view.refresh([node.id]);
        }
        for (const src of images) this.addToGallery(src);
        break;
      }
      case 'execution_error': {
        const id = d.node_id as string;
        const node = this.view.editor.getNode(id?.split('.')[0] ?? '');
        if (node) {
          node.status.errors = [String(d.exception_message ?? 'failed')];
          void this.view.refresh([node.id]);
        }
        this.onToast(`Run failed at node ${id}: ${d.exception_message}`);
        this.setExecuting(undefined);
        break;
      }
      case 'execution_success':
      case 'execution_interrupted':
        this.setExecuting(undefined);
        this.onFinished();
        void this.refreshQueue();
        break;
    }
  }

  private addToGallery(src: string): void {
    const img = document.createElement('img');
    img.src = src;
    img.alt = 'output';
    img.onclick = () => window.open(src, '_blank');
    this.gallery.prepend(img);
    while (this.gallery.children.length > 24) this.gallery.lastElementChild!.remove();
  }

  async refreshQueue(): Promise<void> {
    const q = await (await fetch('/queue')).json() as { queue_running: unknown[][]; queue_pending: unknown[][] };
    const row = (item: unknown[], state: 'running' | 'pending') => {
      const div = document.createElement('div');
      div.className = `queue-item ${state}`;
      const extra = item[3] as { workflow?: unknown; client_id?: unknown } | undefined;
      const label = typeof extra?.workflow === 'string' ? extra.workflow : String(item[1]).slice(0, 8);
      div.textContent = `${state === 'running' ? '▶' : '…'} ${label}${extra?.client_id === clientId ? '' : ' (someone else)'}`;
      div.title = `prompt ${item[1]}`;
      const cancel = document.createElement('button');
      cancel.textContent = state === 'running' ? 'stop' : 'cancel';
      cancel.onclick = () => void (state === 'running'
        ? fetch('/interrupt', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt_id: item[1] }) })
        : fetch('/queue', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete: [item[1]] }) })
      ).then(() => this.refreshQueue());
      div.append(cancel);
      return div;
    };
    this.queueList.replaceChildren(...q.queue_running.map((i) => row(i, 'running')), ...q.queue_pending.map((i) => row(i, 'pending')));
    if (!this.queueList.children.length) this.queueList.textContent = 'idle';
  }
}
