import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { tempDir } from './helpers.ts';
import {
  cheapPrompt, postJson, request, slowPrompt, startTestServer, waitForIdle, WsClient,
} from './server-fixtures/harness.ts';
import { spawnServer } from './server-fixtures/cluster.ts';

/** Queues prompts in order: the first short, the second long (the one that gets cut), the rest short. */
async function queueBatch(url: string): Promise<string[]> {
  const ids: string[] = [];
  const prompts = [slowPrompt(1000, 100), slowPrompt(1001, 3000, 30), slowPrompt(1002, 50), slowPrompt(1003, 50), slowPrompt(1004, 50)];
  for (const prompt of prompts) {
    const res = await postJson(`${url}/prompt`, { prompt });
    assert.equal(res.status, 200, res.text);
    ids.push(res.json.prompt_id);
  }
  return ids;
}

/** After the restart: every prompt ran once, in the order queued, with its own output. */
async function assertAllRanOnce(url: string, ids: string[]): Promise<void> {
  await waitForIdle(url);
  const history = (await request(`${url}/history`)).json;
  assert.deepEqual(Object.keys(history), ids, 'each prompt in the history once, in queue order');
  ids.forEach((id, i) => {
    const entry = history[id];
    assert.equal(entry.status.status_str, 'success', id);
    assert.deepEqual(entry.outputs, { 2: { text: [`value ${1000 + i}`] } });
    assert.equal(entry.status.messages.filter((m: [string]) => m[0] === 'execution_start').length, 1, `${id}: one recorded run`);
  });
  assert.deepEqual((await request(`${url}/queue`)).json, { queue_running: [], queue_pending: [] });
}

describe('server: nothing accepted is lost', () => {
  it('after SIGKILL with prompts running and pending, a restart runs every one (the cut one from the start), each once', async () => {
    const dataDir = tempDir('sanagraph-durable-');
    const first = await spawnServer(undefined, dataDir);
    const ws = await WsClient.connect(first.url);
    const ids = await queueBatch(first.url);
    // Kill while the second prompt is inside its node: the first is done, three are pending.
    await ws.next((m) => m.type === 'progress' && m.data.prompt_id === ids[1]);
    first.proc.kill('SIGKILL');
    assert.equal(await first.exited, null);
    ws.close();

    const second = await spawnServer(undefined, dataDir);
    try {
      assert.match(second.output(), /re-queued 1 prompt\(s\) that were running/);
      await assertAllRanOnce(second.url, ids);
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('SIGTERM stops cleanly (exit 0); the prompt it cut runs again at the next start', async () => {
    const dataDir = tempDir('sanagraph-durable-');
    const first = await spawnServer(undefined, dataDir);
    const ws = await WsClient.connect(first.url);
    const ids = await queueBatch(first.url);
    await ws.next((m) => m.type === 'progress' && m.data.prompt_id === ids[1]);
    first.proc.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
    ws.close();

    const second = await spawnServer(undefined, dataDir);
    try {
      assert.match(second.output(), /re-queued 1 prompt/);
      await assertAllRanOnce(second.url, ids);
    } finally {
      second.proc.kill('SIGTERM');
      assert.equal(await second.exited, 0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('drains 1,000 queued prompts with none lost, each with its own result', async () => {
    const server = await startTestServer({ historySize: 2000 });
    const ws = await WsClient.connect(server.url);
    try {
      const ids = new Array<string>(1000);
      let next = 0;
      // 20 clients queueing at once, each prompt with its own value (so none is a cached copy of another).
      await Promise.all(Array.from({ length: 20 }, async () => {
        while (next < 1000) {
          const i = next++;
          const res = await server.post('/prompt', { prompt: cheapPrompt(5000 + i) });
          assert.equal(res.status, 200, res.text);
          ids[i] = res.json.prompt_id;
        }
      }));
      assert.equal(new Set(ids).size, 1000);
      await waitForIdle(server.url);
      const history = (await server.get('/history')).json;
      assert.equal(Object.keys(history).length, 1000);
      ids.forEach((id, i) => {
        assert.equal(history[id]?.status.status_str, 'success', `prompt ${i}`);
        assert.deepEqual(history[id].outputs, { 3: { text: [`n=${5000 + i}`] } }, `prompt ${i}`);
      });
      // The WebSocket saw every prompt end (its last messages may still be on their way).
      const ended = () => new Set(ws.messages.filter((m) => m.type === 'executing' && m.data.node === null).map((m) => m.data.prompt_id));
      await ws.next(() => ended().size === 1000);
      assert.deepEqual([...ended()].sort(), [...ids].sort());
    } finally {
      ws.close();
      await server.close();
    }
  });
});
