import path from 'node:path';
import { SubgraphBuilder, type SubgraphOptions } from './expansion.ts';
import type { Logger, NodeContext, SavedFile } from './node.ts';
import { reserveFile } from './output-files.ts';
import type { GraphNode } from './validate.ts';

/** What a node's context needs from the execution running it. */
export interface ContextHost {
  readonly promptId: string;
  readonly signal: AbortSignal;
  readonly workflow: unknown;
  readonly outputDir: string;
  readonly tempRoot: string;
  readonly logger: Logger;
  progress(node: GraphNode, value: number, max: number): void;
  tempDirectory(): string;
  sourcesOf(node: GraphNode): Record<string, unknown>;
}

/**
 * The `ctx` a node's `run` receives. A class with its methods on the prototype, because one is
 * made for every node run and closures per node would cost more than the node itself.
 */
export class RunContext implements NodeContext {
  constructor(private readonly host: ContextHost, private readonly node: GraphNode) {}

  get nodeId() { return this.node.id; }
  get promptId() { return this.host.promptId; }
  get signal() { return this.host.signal; }
  get workflow() { return this.host.workflow; }
  get outputDir() { return this.host.outputDir; }
  get tempDir() { return this.host.tempDirectory(); }

  get log(): Logger {
    const prefix = `[${this.node.id} ${this.node.registered.def.type}] `;
    const log = this.host.logger;
    return {
      debug: (m) => log.debug(prefix + m), info: (m) => log.info(prefix + m),
      warn: (m) => log.warn(prefix + m), error: (m) => log.error(prefix + m),
    };
  }

  progress(value: number, max: number): void {
    this.host.progress(this.node, value, max);
  }

  reserveFile(prefix: string, ext: string, where: 'output' | 'temp' = 'output'): SavedFile {
    return where === 'output'
      ? reserveFile(this.host.outputDir, prefix, ext, 'output')
      : reserveFile(this.host.tempRoot, path.posix.join(this.host.promptId, prefix), ext, 'temp');
  }

  subgraph(options?: SubgraphOptions): SubgraphBuilder {
    return new SubgraphBuilder(this.host.sourcesOf(this.node), options);
  }
}
