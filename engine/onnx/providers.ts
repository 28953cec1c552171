import { existsSync, readdirSync } from 'node:fs';
import type { Logger } from '../node.ts';

/**
 * Which ONNX Runtime execution provider a session runs on.
 *
 * `auto` tries cuda, then webgpu, then cpu; each fallback is logged once per process with
 * the reason. An explicit device that is unavailable is an error, never a silent fallback.
 * onnxruntime-node does not fall back by itself (`['webgpu', 'cpu']` throws when there is no
 * adapter), so each provider is tried in its own `create` call.
 *
 * `auto` skips webgpu on a machine without a GPU device, where the only adapter would be a
 * software rasterizer such as Mesa's lavapipe (~30× slower than ORT's CPU provider); ask for
 * `webgpu` explicitly to use it anyway.
 */
export const DEVICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type Device = (typeof DEVICES)[number];

/**
 * Whether a GPU device node exists. On Linux every GPU driver exposes one: a DRM render node
 * (/dev/dri/renderD128, Mesa and AMD/Intel) or /dev/nvidia0 (NVIDIA's driver). Without one, a
 * WebGPU adapter can only be a software rasterizer. Other systems are assumed to have a GPU.
 */
export function hasGpuDevice(): boolean {
  if (process.platform !== 'linux') return true;
  const dri = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  return dri || existsSync('/dev/nvidia0');
}

/** Why each provider failed under `auto`, remembered so the fallback is tried (and logged) once. */
const failed = new Map<string, string>();

export function candidates(device: Device): string[] {
  if (device !== 'auto') return [device];
  return ['cuda', 'webgpu', 'cpu'].filter((p) => !failed.has(p));
}

export function autoSkipReason(provider: string): string | undefined {
  if (provider === 'webgpu' && !hasGpuDevice()) {
    return 'no GPU device on this machine (a software Vulkan driver would be slower than the CPU); ask for device "webgpu" to use it anyway';
  }
  return undefined;
}

export function noteFallback(provider: string, reason: string, logger: Logger): void {
  if (failed.has(provider)) return;
  failed.set(provider, reason);
  logger.info(`device auto: ${provider} unavailable (${reason}); trying the next provider`);
}

export function explainUnavailable(provider: string, reason: string): string {
  const hint: Record<string, string> = {
    cuda: "install onnxruntime-node's CUDA 12 build with `npm run setup:cuda` (needs CUDA 12 and cuDNN 9; `npx sanagraph doctor` says what is missing), or use device \"auto\"",
    webgpu: 'no usable WebGPU adapter (a GPU with a Vulkan driver on Linux); use device "auto" or "cpu"',
  };
  return `device "${provider}" is unavailable: ${firstLine(reason)}${hint[provider] ? `. ${hint[provider]}` : ''}`;
}

/** The useful part of a native error: its first line, without ORT's source-location prefix. */
export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim())?.trim() ?? text;
  const adapter = /Failed to get a WebGPU adapter.*/.exec(line)?.[0];
  return (adapter ?? line).slice(0, 300);
}
