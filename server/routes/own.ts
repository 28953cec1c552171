import { Router } from 'express';
import type { InputSpec } from '../../engine/inputs.ts';
import type { NodeRegistry } from '../../engine/registry.ts';
import { parseWorkflow, WorkflowFormatError, type Workflow } from '../../engine/workflow.ts';
import { CLEARED_COOKIE, safeEqual, sessionCookie } from '../auth.ts';
import { LoginBody, parse, WorkflowBody } from '../bodies.ts';
import type { ServerContext } from '../context.ts';
import { errorBody, HttpError } from '../http-errors.ts';
import { sanagraphVersion } from '../system-stats.ts';
import { checkWorkflowName } from '../workflow-store.ts';

/** sanagraph's own API, under `/api` only: saved workflows, the node catalog in our terms, health, login. */

function describeInput(name: string, spec: InputSpec) {
  const base = { name, kind: spec.kind, optional: spec.optional, ...(spec.tooltip ? { tooltip: spec.tooltip } : {}) };
  if (spec.kind === 'socket') return { ...base, type: spec.type };
  return {
    ...base, type: spec.widget, link_type: spec.linkType, expected: spec.expected, options: spec.options,
    ...(spec.default !== undefined ? { default: spec.default } : {}), ...(spec.choices ? { choices: spec.choices } : {}),
  };
}

/** Every node with its inputs in declaration order, as the editor builds its palette. */
function nodeList(registry: NodeRegistry) {
  return registry.all().map(({ def, source, outputTypes }) => ({
    type: def.type,
    display_name: def.displayName ?? def.type,
    category: def.category,
    description: def.description,
    version: def.version ?? 1,
    output_node: def.output === true,
    cache: def.cache !== false,
    source,
    inputs: Object.entries(def.inputs).map(([name, spec]) => describeInput(name, spec)),
    outputs: def.outputs.map((o, i) => ({ name: o.name, type: outputTypes[i], ...(o.tooltip ? { tooltip: o.tooltip } : {}) })),
  }));
}

export function ownRoutes(ctx: ServerContext): Router {
  const r = Router();
  const name = (raw: unknown) => String(raw);

  r.get('/workflows', (_req, res) => { res.json(ctx.workflows.list()); });
  r.get('/templates', (_req, res) => { res.json(ctx.templates.list()); });
  r.get('/templates/:name', async (req, res) => {
    res.type('json').send(await ctx.templates.get(name(req.params.name)));
  });
  r.get('/workflows/:name', async (req, res) => {
    res.type('json').send(await ctx.workflows.get(name(req.params.name)));
  });
  r.put('/workflows/:name', (req, res) => {
    const body = parse(WorkflowBody, req.body, 'workflow');
    let workflow: Workflow;
    try {
      workflow = parseWorkflow(body); // the shape must be a workflow (native or ComfyUI API); its nodes may be unfinished
    } catch (e) {
      if (e instanceof WorkflowFormatError) throw new HttpError(400, 'invalid_workflow', e.message, e.issues.join('\n'));
      throw e;
    }
    const { created } = ctx.workflows.put(name(req.params.name), body);
    const saved = checkWorkflowName(name(req.params.name));
    ctx.collab?.replaced(saved, workflow);
    res.status(created ? 201 : 200).json({ name: saved });
  });
  r.delete('/workflows/:name', (req, res) => {
    ctx.workflows.delete(name(req.params.name));
    ctx.collab?.deleted(checkWorkflowName(name(req.params.name)));
    res.status(204).end();
  });

  let nodesJson: string | undefined;
  r.get('/nodes', (_req, res) => {
    nodesJson ??= JSON.stringify(nodeList(ctx.engine.front.registry));
    res.type('json').send(nodesJson);
  });

  r.get('/health', async (_req, res) => {
    res.json({
      status: 'ok',
      version: sanagraphVersion,
      uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000),
      queue_remaining: await ctx.queue.remaining(),
      running: (await ctx.runner.runningPrompt()) ?? null,
      websocket_clients: ctx.hub.size,
    });
  });

  r.post('/login', (req, res) => {
    const { token } = parse(LoginBody, req.body);
    if (!ctx.token) {
      res.json({ ok: true, token_required: false });
      return;
    }
    if (!safeEqual(token, ctx.token)) {
      res.status(401).json(errorBody('unauthorized', 'wrong token'));
      return;
    }
    res.set('Set-Cookie', sessionCookie(ctx.token)).json({ ok: true, token_required: true });
  });
  r.post('/logout', (_req, res) => {
    res.set('Set-Cookie', CLEARED_COOKIE).json({ ok: true });
  });
  return r;
}
