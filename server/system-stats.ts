import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { EngineHost } from './engine-host.ts';

/**
 * `GET /system_stats` in ComfyUI's shape (`{system: {os, ram_total, ram_free, ...}, devices: [...]}`),
 * with our runtime: Node.js and ONNX Runtime versions, one device per ONNX Runtime execution
 * provider (`available`: bundled with this install), the models loaded and time spent in them.
 */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const sanagraphVersion = VERSION;

let providers: Promise<{ name: string; bundled: boolean }[]> | undefined;
let ortVersion = '';

/** Asked once, lazily: loading ONNX Runtime's native library on this thread costs memory. */
function executionProviders(): Promise<{ name: string; bundled: boolean }[]> {
  providers ??= import('onnxruntime-node').then((ort) => {
    ortVersion = ort.env.versions?.node ?? '';
    return ort.listSupportedBackends();
  }, () => [{ name: 'cpu', bundled: true }]);
  return providers;
}

export async function systemStats(engine: EngineHost) {
  const [backends, models, runtime] = await Promise.all([
    executionProviders(),
    engine.command<{ path: string; device: string; provider: string; bytes: number }[]>('models'),
    engine.command<{ runMs: number; runs: number }>('runtimeStats'),
  ]);
  const ramTotal = os.totalmem();
  const ramFree = os.freemem();
  const cpu = os.cpus()[0]?.model ?? 'cpu';
  return {
    system: {
      os: process.platform,
      ram_total: ramTotal,
      ram_free: ramFree,
      sanagraph_version: VERSION,
      node_version: process.version,
      onnxruntime_version: ortVersion,
      embedded_python: false,
      argv: process.argv,
    },
    devices: backends.map((b, index) => ({
      name: b.name === 'cpu' ? `cpu (${cpu})` : b.name,
      type: b.name,
      index,
      available: b.bundled,
      // Device memory is not reported by ONNX Runtime; the CPU's is the machine's RAM.
      vram_total: b.name === 'cpu' ? ramTotal : 0,
      vram_free: b.name === 'cpu' ? ramFree : 0,
      torch_vram_total: 0,
      torch_vram_free: 0,
    })),
    runtime: {
      loaded_models: models,
      onnx_runs: runtime.runs,
      onnx_run_ms: Math.round(runtime.runMs),
      uptime_s: Math.round(process.uptime()),
    },
  };
}
