import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { WorkflowFormatError } from '../../engine/workflow.ts';
import { ClearOrDeleteBody, FreeBody, HistoryQuery, InterruptBody, parse, PromptBody } from '../bodies.ts';
import { judgePrompt, type NodeErrors } from '../comfy-errors.ts';
import type { ServerContext } from '../context.ts';
import { errorBody, type ErrorBody } from '../http-errors.ts';
import { DuplicatePromptError, QueueFullError, toTuple } from '../queue.ts';
import { systemStats } from '../system-stats.ts';

/**
 * ComfyUI's HTTP API (its `server.py`), served at `/` and under `/api`: prompts, queue,
 * history, node catalog, interrupt, free, system stats. Paths, fields and answers follow
 * ComfyUI, so its API clients work unchanged.
 */
type Validation =
  | { status: 400; body: { error: ErrorBody; node_errors: NodeErrors } }
  | { status: 200; outputs: string[]; nodeErrors: NodeErrors };

/** Validates on this thread; a prompt with at least one valid output is accepted (as ComfyUI). */
function validatePrompt(ctx: ServerContext, prompt: Record<string, unknown>, targets: string[] | undefined): Validation {
  let validated;
  try {
    validated = ctx.engine.validate(prompt, targets);
  } catch (e) {
    if (!(e instanceof WorkflowFormatError)) throw e;
    return { status: 400, body: { ...errorBody('invalid_prompt', e.message, e.issues.join('\n')), node_errors: {} } };
  }
  if (validated.problems.length === 0) return { status: 200, outputs: validated.targets, nodeErrors: {} };
  const verdict = judgePrompt(validated.problems, validated.workflow, ctx.engine.front.registry, validated.targets);
  if (!verdict.ok) return { status: 400, body: { error: verdict.error, node_errors: verdict.nodeErrors } };
  return { status: 200, outputs: verdict.outputs, nodeErrors: verdict.nodeErrors };
}

async function postPrompt(ctx: ServerContext, req: Request, res: Response): Promise<void> {
  const body = parse(PromptBody, req.body);
  if (!body.prompt) {
    res.status(400).json({ ...errorBody('no_prompt', 'No prompt provided', 'No prompt provided'), node_errors: {} });
    return;
  }
  const checked = validatePrompt(ctx, body.prompt, body.partial_execution_targets);
  if (checked.status === 400) {
    res.status(400).json(checked.body);
    return;
  }
  const extraData = { ...body.extra_data };
  if (body.client_id !== undefined) extraData.client_id = body.client_id;
  const promptId = body.prompt_id ?? randomUUID();
  try {
    const queued = await ctx.queue.enqueue({
      promptId, prompt: body.prompt, extraData, outputsToExecute: checked.outputs, front: body.front, number: body.number,
    });
    res.json({ prompt_id: promptId, number: queued.number, node_errors: checked.nodeErrors });
  } catch (e) {
    if (e instanceof QueueFullError) res.status(429).set('Retry-After', '5').json({ ...errorBody('queue_full', e.message), node_errors: {} });
    else if (e instanceof DuplicatePromptError) res.status(400).json({ ...errorBody('duplicate_prompt_id', e.message), node_errors: {} });
    else throw e;
  }
}

export function comfyRoutes(ctx: ServerContext): Router {
  const r = Router();
  const { queue, history, engine, runner } = ctx;
  const queueInfo = async () => ({ exec_info: { queue_remaining: await queue.remaining() } });
  let catalogJson: string | undefined;

  r.get('/prompt', async (_req, res) => { res.json(await queueInfo()); });
  r.post('/prompt', (req, res) => postPrompt(ctx, req, res));

  r.get('/queue', async (_req, res) => {
    const { running, pending } = await queue.list();
    // With a distributed queue, also the workers (clients that do not know the field ignore it).
    const workers = ctx.cluster && { workers: await ctx.cluster.workers() };
    res.json({ queue_running: running.map(toTuple), queue_pending: pending.map(toTuple), ...workers });
  });
  r.post('/queue', async (req, res) => {
    const body = parse(ClearOrDeleteBody, req.body);
    if (body.clear) await queue.clear();
    if (body.delete) await queue.remove(body.delete);
    res.status(200).end();
  });

  r.get('/history', async (req, res) => {
    const q = parse(HistoryQuery, req.query, 'query');
    res.json(await history.history({ maxItems: q.max_items, offset: q.offset }));
  });
  r.get('/history/:prompt_id', async (req, res) => {
    const id = String(req.params.prompt_id);
    const entry = await history.historyOf(id);
    res.json(entry ? { [id]: entry } : {});
  });
  r.post('/history', async (req, res) => {
    const body = parse(ClearOrDeleteBody, req.body);
    if (body.clear) await history.clearHistory();
    if (body.delete) await history.deleteHistory(body.delete);
    res.status(200).end();
  });

  r.post('/interrupt', (req, res) => {
    runner.interrupt(parse(InterruptBody, req.body).prompt_id);
    res.status(200).end();
  });
  r.post('/free', async (req, res) => {
    const body = parse(FreeBody, req.body);
    // As ComfyUI: unload_models unloads the models; free_memory also drops cached results.
    if (body.unload_models || body.free_memory) await runner.free({ clearCache: body.free_memory === true });
    res.status(200).end();
  });

  r.get('/object_info', (_req, res) => {
    catalogJson ??= JSON.stringify(engine.catalog());
    res.type('json').send(catalogJson);
  });
  r.get('/object_info/:node_class', (req, res) => {
    const name = String(req.params.node_class);
    const catalog = engine.catalog();
    res.json(Object.hasOwn(catalog, name) ? { [name]: catalog[name] } : {});
  });

  r.get('/system_stats', async (_req, res) => {
    const workers = ctx.cluster && { workers: await ctx.cluster.workers() };
    res.json({ ...(await systemStats(engine)), ...workers });
  });
  r.get('/embeddings', (_req, res) => { res.json([]); });
  r.get('/extensions', (_req, res) => { res.json([]); });
  r.get('/features', (_req, res) => { res.json(ctx.features); });
  // The WebSocket lives at /ws; a plain GET there is a client that forgot to upgrade.
  r.get('/ws', (_req, res) => { res.status(426).set('Upgrade', 'websocket').json(errorBody('upgrade_required', 'connect with a WebSocket client')); });
  return r;
}
