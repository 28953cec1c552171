import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EngineThread } from '../engine/engine-thread.ts';
import { WorkflowValidationError, type EngineEvent } from '../engine/index.ts';
import { tempDir } from './helpers.ts';
import { tinyModels, tinyWorkflow } from './tiny-fixtures.ts';

const threads: EngineThread[] = [];
function thread() {
  const t = new EngineThread({
    setup: new URL('../nodes/engine-setup.ts', import.meta.url).href,
    options: { outputDir: tempDir(), tempDir: tempDir() },
  });
  threads.push(t);
  return t;
}
after(async () => { for (const t of threads) await t.close(); });

describe('the engine on its own thread', () => {
  it('runs a workflow with the same events and result as in-process, models in its thread', async () => {
    const t = thread();
    const events: EngineEvent[] = [];
    const result = await t.execute(await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }), { 5: { steps: 3 } }), { onEvent: (e) => events.push(e), promptId: 'abc' });
    assert.equal(result.status, 'success', result.error?.exception_message);
    assert.equal(result.promptId, 'abc');
    assert.deepEqual(Object.keys(result.outputs).sort(), ['7', '8']);
    assert.equal(events[0].type, 'execution_start');
    assert.equal(events.at(-1)!.type, 'execution_success');
    assert.deepEqual(events.filter((e) => e.type === 'progress').map((e) => e.type === 'progress' && e.data.value), [1, 2, 3]);
    const models = await t.command<{ provider: string }[]>('models');
    assert.deepEqual(models.map((m) => m.provider), ['cpu', 'cpu', 'cpu']);
    await t.command('free');
    assert.deepEqual(await t.command('models'), []);
  });

  it('rejects an invalid workflow with every problem, as in-process', async () => {
    await assert.rejects(thread().execute({ format: 'sanagraph/workflow@1', nodes: { 1: { type: 'Nope' } } }),
      (e: unknown) => e instanceof WorkflowValidationError && e.problems.map((p) => p.code).join() === 'no_output,unknown_node_type');
  });

  it('forwards an interrupt to the running execution', async () => {
    const t = thread();
    const controller = new AbortController();
    const wf = await tinyWorkflow(await tinyModels({ layout: 'sanagraph' }), { 5: { steps: 200 } });
    const result = await t.execute(wf, {
      signal: controller.signal,
      onEvent: (e) => { if (e.type === 'progress' && e.data.value === 2) controller.abort(); },
    });
    assert.equal(result.status, 'interrupted');
    assert.ok(!result.executed.includes('5'), 'the sampler did not finish');
  });

  it('says which command does not exist', async () => {
    await assert.rejects(thread().command('nope'), /the engine thread has no command "nope"/);
  });
});
