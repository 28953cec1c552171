import type { EngineEvent, Workflow } from '../engine/index.ts';

/**
 * Human-readable progress on stderr: a redrawn status line with a bar on a terminal,
 * plain lines otherwise (logs, CI, pipes).
 */
export class ProgressPrinter {
  private readonly tty: boolean;
  private lineOpen = false;
  private nodesRun = 0;
  private started = performance.now();

  constructor(private readonly workflow: Workflow, private readonly out: NodeJS.WriteStream) {
    this.tty = out.isTTY === true;
  }

  private label(id: string): string {
    const type = this.workflow.nodes[id]?.type;
    return type ? `${id} (${type})` : id;
  }

  private write(line: string): void {
    if (this.tty) {
      this.out.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  private endLine(): void {
    if (this.lineOpen) this.out.write('\n');
    this.lineOpen = false;
  }

  handle(event: EngineEvent): void {
    switch (event.type) {
      case 'execution_cached':
        if (event.data.nodes.length) this.write(`reusing cached results of ${event.data.nodes.length} node(s)`);
        if (this.tty) this.endLine();
        break;
      case 'executing':
        this.nodesRun++;
        // Expanded nodes (5.12) are reported through their parent's progress, not line by line.
        if (event.data.node === event.data.display_node) this.write(`running ${this.label(event.data.node)}`);
        break;
      case 'progress': {
        const { value, max, display_node } = event.data;
        const width = 30;
        const filled = max > 0 ? Math.round((width * value) / max) : 0;
        const bar = this.tty ? ` [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : '';
        this.write(`running ${this.label(display_node)}${bar} ${value}/${max}`);
        break;
      }
      case 'execution_success':
        this.endLine();
        this.out.write(`done: ${this.nodesRun} node(s) ran in ${((performance.now() - this.started) / 1000).toFixed(2)} s\n`);
        break;
      default:
        break;
    }
  }

  done(): void {
    this.endLine();
  }
}
