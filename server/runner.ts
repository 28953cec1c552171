import type { EngineEvent } from '../engine/events.ts';
import type { ExecutionResult } from '../engine/executor.ts';
import type { Logger } from '../engine/node.ts';
import type { EngineHost } from './engine-host.ts';
import { RunRecord } from './history.ts';
import { clientIdOf, type PromptQueue, type QueuedPrompt } from './queue.ts';
import type { ClientHub } from './ws.ts';

/**
 * The executor: takes one prompt at a time from the queue, runs it on the engine thread,
 * forwards its events to the client that queued it, and records it in the history (in the same
 * step that removes it from the queue). On shutdown the running prompt is interrupted and left
 * in the queue, so it runs again, from the start, when the server is next started.
 */

/**
 * A preview image, for when the engine reports them (it does not yet): sent to clients as
 * ComfyUI's binary PREVIEW_IMAGE frame.
 */
interface PreviewEvent { type: 'preview'; data: { prompt_id: string; format: 'jpeg' | 'png'; image: Uint8Array } }

export class PromptRunner {
  private readonly stopping = new AbortController();
  private current?: { item: QueuedPrompt; controller: AbortController };
  private loop?: Promise<void>;

  constructor(private readonly queue: PromptQueue, private readonly engine: EngineHost, private readonly hub: ClientHub, private readonly logger: Logger) {}

  start(): void {
    this.loop ??= this.run();
  }

  async runningPrompt(): Promise<string | undefined> {
    return this.current?.item.promptId;
  }

  /** Interrupts the running prompt (only if it is `promptId`, when given). */
  interrupt(promptId?: string): boolean {
    if (!this.current || (promptId && this.current.item.promptId !== promptId)) return false;
    this.current.controller.abort();
    return true;
  }

  /** Unloads the models (and drops cached results) now, or after the running prompt (EngineHost.free). */
  free(opts: { clearCache: boolean }): Promise<void> {
    return this.engine.free(opts);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.current?.controller.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        const item = await this.queue.take(signal);
        if (!item) return;
        await this.runOne(item);
      } catch (e) {
        // The queue store failed (disk full, say): log, wait a little, and keep serving.
        this.logger.error(`executor: ${(e as Error).stack ?? String(e)}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private forward(event: EngineEvent | PreviewEvent, sid: string | undefined): void {
    if (event.type === 'preview') this.hub.sendPreview(event.data.format, event.data.image, sid);
    else this.hub.send(event.type, event.data as unknown as Record<string, unknown>, sid);
  }

  private async runOne(item: QueuedPrompt): Promise<void> {
    const controller = new AbortController();
    this.current = { item, controller };
    const sid = clientIdOf(item);
    const record = new RunRecord();
    let result: ExecutionResult | undefined;
    try {
      result = await this.engine.execute(item.prompt, {
        promptId: item.promptId,
        signal: controller.signal,
        targets: item.outputsToExecute,
        onEvent: (event) => {
          record.observe(event);
          this.forward(event, sid);
        },
      });
    } catch (e) {
      // Only when the engine thread died (the prompt was validated before it was queued).
      this.hub.send('execution_error', record.failed(item.promptId, e as Error), sid);
    } finally {
      this.current = undefined;
    }
    if (this.stopping.signal.aborted && result?.status !== 'success') return; // runs again after the restart
    await this.queue.finish(item.promptId, record.entry(item, result));
    await this.hub.promptDone(item.promptId, sid);
  }
}
