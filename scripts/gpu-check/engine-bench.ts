/**
 * The Node half of scripts/gpu-check.sh: runs Sana's text-to-image workflow through sanagraph's
 * engine thread, as `sanagraph run` and the server run it, on one provider, and appends one JSON
 * line per event to a file (read by report.py).
 *
 *   LoadPipeline → LoadConditioning ×2 → LatentInit → Sampler (flow_dpmpp_2m, CFG 4.5) → DCAEDecode → SaveImage
 *
 * Text embeddings come from a .safetensors file (no text encoder: the check measures the
 * transformer and the decoder). Each run uses a new seed, so everything from LatentInit on runs
 * again while LoadPipeline and LoadConditioning come from the engine's cache. Run 0 is the first
 * run (sessions created, kernels compiled); the later ones are warm.
 *
 * Windows are measured on this thread from the engine's `executing` events (sent at once for
 * workflow nodes): sampler = Sampler → DCAEDecode, decode = DCAEDecode → SaveImage. The time inside
 * ONNX Runtime comes from the engine thread's `runtimeStats`, per model file.
 *
 * Usage (from the repository root):
 *   node --import tsx scripts/gpu-check/engine-bench.ts --model DIR --device cuda|webgpu|cpu|auto
 *     [--conditioning FILE] [--runs 3] [--steps 20] [--res 1024] [--threads N]
 *     [--jsonl FILE] [--deadline EPOCH_MS] [--label NAME] [--caption N]
 * Without --conditioning, MODEL/conditioning.safetensors is used (sana_torch.py writes it); when
 * that is missing too, random embeddings are made for the run (300 tokens of the model's
 * caption_channels, or --caption), so the check also runs on any model folder, e.g. a tiny one.
 * Exit status: 0 when every run succeeded, 2 when the model did not load, 1 otherwise.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EngineThread } from '../../engine/engine-thread.ts';
import { writeSafetensors } from '../../engine/tensor-files.ts';
import { float32 } from '../../engine/tensor.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'auto' },
    conditioning: { type: 'string' },
    runs: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    res: { type: 'string', default: '1024' },
    threads: { type: 'string' },
    jsonl: { type: 'string' },
    deadline: { type: 'string' },
    label: { type: 'string' },
    caption: { type: 'string' },
  },
});
if (!args.model) {
  console.error('usage: engine-bench.ts --model DIR --device D [--conditioning FILE] [--runs N] [--steps N] [--res N] [--threads N] [--jsonl FILE] [--deadline EPOCH_MS]');
  process.exit(64);
}
const modelDir = path.resolve(args.model);
const device = args.device!;
const runs = Number(args.runs), steps = Number(args.steps), res = Number(args.res);
const threads = args.threads ? Number(args.threads) : undefined;
const deadline = args.deadline ? Number(args.deadline) : Infinity;
let cond = path.resolve(args.conditioning ?? path.join(modelDir, 'conditioning.safetensors'));
const label = args.label ?? device;
const jsonl = args.jsonl ? path.resolve(args.jsonl) : undefined;

function log(record: Record<string, unknown>): void {
  const line = JSON.stringify({ kind: 'engine', provider: label, ...record });
  console.log(line);
  if (jsonl) appendFileSync(jsonl, line + '\n');
}

/** A node error in one line, with what to do about the ones this check is known to meet. */
function explain(message: string): string | undefined {
  if (/transpose|\bperms?\b/i.test(message)) {
    return 'the DC-AE decoder export has negative Transpose perms, which the engine repairs at load (engine/onnx/model-repair.ts): '
      + 'is that repair in this checkout? To measure anyway, rerun scripts/gpu-check.sh with --python-repair (the export is then repaired in Python)';
  }
  if (/cuda/i.test(message) && /unavailable|providers_cuda|libcu/i.test(message) && !/cuda ?12/i.test(message)) {
    return 'onnxruntime-node needs its CUDA 12 build and CUDA 12 + cuDNN 9 libraries for "cuda" (npm run setup:cuda; sanagraph doctor says what is missing)';
  }
  if (/webgpu/i.test(message) && /adapter/i.test(message)) {
    return 'no WebGPU adapter: is a Vulkan loader (libvulkan.so.1) and the NVIDIA Vulkan ICD visible (VK_DRIVER_FILES)?';
  }
  return undefined;
}

function versions(): Record<string, string> {
  const require = createRequire(new URL('../../package.json', import.meta.url));
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  return { node: process.version, onnxruntime_node: pkg('onnxruntime-node') };
}

const workflow = {
  format: 'sanagraph/workflow@1',
  nodes: {
    '1': { type: 'LoadPipeline', inputs: { path: modelDir, device } },
    '2': { type: 'LoadConditioning', inputs: { path: cond, embeds_key: 'prompt_embeds', mask_key: 'prompt_mask' } },
    '3': { type: 'LoadConditioning', inputs: { path: cond, embeds_key: 'negative_embeds', mask_key: 'negative_mask' } },
    '4': { type: 'LatentInit', inputs: { width: res, height: res, batch_size: 1, seed: 0, channels: 32, spatial_compression: 32 } },
    '5': {
      type: 'Sampler',
      inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent: ['4', 0], steps, guidance_scale: 4.5, scheduler: 'flow_dpmpp_2m', flow_shift: 3.0 },
    },
    '6': { type: 'DCAEDecode', inputs: { vae: ['1', 2], latent: ['5', 0] } },
    '7': { type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'gpu_check' } },
  },
};

interface Stats { runMs: number; runs: number; byModel?: Record<string, number>; transfers?: { hostToDevice: number; deviceToHost: number } }
interface Loaded { path: string; device: string; provider: string; bytes: number }

const round = (x: number, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
/** The DC-AE decoder's file: optimum's vae_decoder/model.onnx, or a sanagraph folder's vae_decoder.onnx (by default). */
const isDecoder = (file: string) => /vae_decoder|(^|[/\\])vae[/\\.]/i.test(path.relative(modelDir, file));
/** ORT milliseconds of the transformer and of the decoder between two snapshots. */
function ortSplit(before: Stats, after: Stats): { transformer: number; decoder: number; total: number } {
  const by = (s: Stats, decoder: boolean) => Object.entries(s.byModel ?? {}).filter(([f]) => isDecoder(f) === decoder).reduce((n, [, ms]) => n + ms, 0);
  const total = after.runMs - before.runMs;
  if (!after.byModel) return { transformer: NaN, decoder: NaN, total };
  return { transformer: by(after, false) - by(before, false), decoder: by(after, true) - by(before, true), total };
}

/** The caption width the transformer takes: --caption, else transformer/config.json, else Sana's 2304. */
function captionChannels(): number {
  if (args.caption) return Number(args.caption);
  try {
    const config = JSON.parse(readFileSync(path.join(modelDir, 'transformer', 'config.json'), 'utf8')) as { caption_channels?: unknown };
    if (typeof config.caption_channels === 'number') return config.caption_channels;
  } catch {
    // not an optimum folder, or no config: Sana's width
  }
  return 2304;
}

/** Random embeddings with SanaPipeline's shapes: [1, 300, C]; the prompt is 40 tokens long, the negative 8. */
async function randomConditioning(file: string, channels: number): Promise<void> {
  const tokens = 300;
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const embeds = () => float32([1, tokens, channels], Float32Array.from({ length: tokens * channels }, rand));
  const mask = (n: number) => float32([1, tokens], Float32Array.from({ length: tokens }, (_, i) => (i < n ? 1 : 0)));
  await writeSafetensors(file, { prompt_embeds: embeds(), prompt_mask: mask(40), negative_embeds: embeds(), negative_mask: mask(8) });
}

async function main(): Promise<number> {
  if (args.conditioning && !existsSync(cond)) {
    log({ event: 'error', stage: 'setup', message: `conditioning file ${cond} is missing` });
    return 1;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sanagraph-gpu-check-'));
  mkdirSync(path.join(tmp, 'out'));
  if (!existsSync(cond)) {
    const channels = captionChannels();
    cond = path.join(tmp, 'conditioning.safetensors');
    await randomConditioning(cond, channels);
    log({ event: 'note', message: `no conditioning.safetensors in the model folder: random embeddings [1, 300, ${channels}] made for this run` });
    workflow.nodes['2'].inputs.path = cond;
    workflow.nodes['3'].inputs.path = cond;
  }
  log({ event: 'start', device, runs, steps, res, model: modelDir, pid: process.pid, ...versions() });
  const engine = new EngineThread({
    setup: new URL('../../nodes/engine-setup.ts', import.meta.url).href,
    options: { outputDir: path.join(tmp, 'out'), tempDir: path.join(tmp, 'temp'), modelsDir: path.dirname(modelDir), threads },
  });
  const stats = () => engine.command<Stats>('runtimeStats');
  let failed = 0;
  let lastRunMs = 0;
  try {
    for (let i = 0; i < runs; i++) {
      if (i > 0 && Date.now() + lastRunMs * 1.2 + 2000 > deadline) {
        log({ event: 'stopped', run: i, reason: `time budget: run ${i} of ${runs} would end after the deadline` });
        break;
      }
      workflow.nodes['4'].inputs.seed = i;
      const marks: Record<string, number> = {};
      const before = await stats();
      const start = performance.now();
      const result = await engine.execute(workflow, {
        onEvent: (e) => {
          if (e.type === 'executing' && e.data.node in workflow.nodes && !(e.data.node in marks)) marks[e.data.node] = performance.now() - start;
        },
      });
      const total = performance.now() - start;
      lastRunMs = total;
      const after = await stats();
      const ort = ortSplit(before, after);
      const sampler = (marks['6'] ?? NaN) - (marks['5'] ?? NaN);
      if (result.status !== 'success') {
        const err = result.error;
        const message = err?.exception_message ?? result.status;
        const load = err?.node_id === '1';
        log({
          event: 'error', run: i, stage: load ? 'load' : 'run', node: err?.node_type ?? null, message: message.slice(0, 1500),
          hint: explain(message), elapsed_ms: Math.round(total),
          // what was measured before the failure (a decoder failing after the sampler still gives the steps)
          ...(Number.isFinite(sampler) ? { sampler_ms: round(sampler), per_step_ms: round(sampler / steps, 2) } : {}),
        });
        return load ? 2 : 1;
      }
      const decode = (marks['7'] ?? NaN) - (marks['6'] ?? NaN);
      const loaded = await engine.command<Loaded[]>('models');
      log({
        event: 'run', run: i, first: i === 0, steps, res,
        total_ms: round(total), sampler_ms: round(sampler), per_step_ms: round(sampler / steps, 2),
        decode_ms: round(decode), save_ms: round(total - (marks['7'] ?? NaN)),
        before_sampler_ms: round(marks['5'] ?? NaN),
        ort_ms: round(ort.total), ort_transformer_ms: round(ort.transformer), ort_decoder_ms: round(ort.decoder),
        ort_per_step_ms: round(ort.transformer / steps, 2), ort_calls: after.runs - before.runs,
        outside_ort_ms: round(total - ort.total),
        // host ↔ device bytes of the whole run (the device loop: latent and conditioning once, ~30 B a step)
        bytes_to_device: after.transfers && before.transfers ? after.transfers.hostToDevice - before.transfers.hostToDevice : null,
        bytes_to_host: after.transfers && before.transfers ? after.transfers.deviceToHost - before.transfers.deviceToHost : null,
        providers: Object.fromEntries(loaded.map((m) => [path.relative(modelDir, m.path) || m.path, m.provider])),
      });
    }
  } catch (e) {
    failed++;
    const message = String((e as Error)?.message ?? e);
    log({ event: 'error', stage: 'engine', message: message.slice(0, 1500), hint: explain(message) });
  } finally {
    await engine.close().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
