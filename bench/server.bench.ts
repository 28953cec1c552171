import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { RunningServer } from '../server/serve.ts';
import { cheapPrompt, startTestServer, waitForIdle } from '../tests/server-fixtures/harness.ts';
import { round, type Metric } from './util.ts';

/**
 * The server on loopback, bounded in time and count:
 * - `server.prompt_rps`: POST /prompt of a fully cached prompt by 20 concurrent HTTP clients for
 *   5 s (each request is parsed, validated, stored in SQLite and then run by the executor).
 * - `server.ws_fanout_ms`: p95 delay from the server sending a `progress` event to its receipt
 *   by each of 200 WebSocket clients (which run on a worker thread, with their own event loop).
 */
const CLIENTS = 20;
const SECONDS = 5;
const SOCKETS = 200;
const EVENTS = 50;

const prompt = cheapPrompt(42);

async function promptRps(server: RunningServer): Promise<number> {
  const post = () => fetch(`${server.url}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) });
  await (await post()).text(); // run once, so every later run is fully cached
  await waitForIdle(server.url);
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < end) {
      const res = await post();
      await res.text();
      if (res.ok) done++;
    }
  }));
  const rps = done / ((performance.now() - start) / 1000);
  await fetch(`${server.url}/queue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"clear": true}' });
  await waitForIdle(server.url);
  return rps;
}

/** The WebSocket clients, on a worker thread: they record when each progress event arrived. */
const CLIENT_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const WebSocket = require(workerData.ws);
const now = () => performance.timeOrigin + performance.now();
const received = [];
let open = 0;
const sockets = [];
for (let i = 0; i < workerData.count; i++) {
  const ws = new WebSocket(workerData.url + '?clientId=bench-' + i);
  sockets.push(ws);
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type === 'status' && ++open === workerData.count) parentPort.postMessage({ ready: true });
    if (m.type === 'progress') received.push([m.data.value, now()]);
  });
}
parentPort.on('message', () => {
  for (const ws of sockets) ws.close();
  parentPort.postMessage({ received });
});
`;

async function wsFanout(server: RunningServer): Promise<number> {
  const worker = new Worker(CLIENT_CODE, {
    eval: true,
    workerData: { url: `${server.url.replace('http', 'ws')}/ws`, count: SOCKETS, ws: createRequire(import.meta.url).resolve('ws') },
  });
  const reply = () => new Promise<{ received?: [number, number][] }>((resolve) => worker.once('message', resolve));
  await reply();
  const sentAt: number[] = [];
  for (let value = 0; value < EVENTS; value++) {
    sentAt[value] = performance.timeOrigin + performance.now();
    server.context.hub.send('progress', { prompt_id: 'bench', node: '1', display_node: '1', value, max: EVENTS });
    await sleep(20);
  }
  await sleep(200);
  const report = reply();
  worker.postMessage('report');
  const { received = [] } = await report;
  await worker.terminate();
  if (received.length !== SOCKETS * EVENTS) throw new Error(`expected ${SOCKETS * EVENTS} progress messages, got ${received.length}`);
  const delays = received.map(([value, at]) => at - sentAt[value]).sort((a, b) => a - b);
  return delays[Math.floor(delays.length * 0.95)];
}

export async function serverBench(): Promise<Metric[]> {
  const server = await startTestServer({ maxQueue: 1_000_000, historySize: 1000, engine: { customNodes: [] } });
  try {
    const rps = await promptRps(server);
    const fanout = await wsFanout(server);
    return [
      { metric: 'server.prompt_rps', value: round(rps, 0), unit: 'req/s' },
      { metric: 'server.ws_fanout_ms', value: round(fanout, 2), unit: 'ms' },
    ];
  } finally {
    await server.close();
  }
}
