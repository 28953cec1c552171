import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  findLibrary, librarySearch, otherVersions, probeProvider, PROBE_MODEL_BASE64,
  type DoctorReport, type ProviderReport,
} from '../engine/onnx/doctor.ts';
import { hasGpuDevice } from '../engine/onnx/providers.ts';
import { GraphBuilder } from '../engine/onnx/graph-builder.ts';
import { tempDir } from './helpers.ts';

interface Ran { code: number; stdout: string; stderr: string }

function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/sanagraph.js', 'doctor', ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function doctorJson(env: NodeJS.ProcessEnv = {}): Promise<DoctorReport> {
  const ran = await doctor(['--json'], env);
  assert.equal(ran.code, 0, ran.stderr);
  return JSON.parse(ran.stdout) as DoctorReport;
}

const device = (report: DoctorReport, name: string): ProviderReport => report.providers.find((p) => p.device === name)!;

const ortPackage = createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string };
/** This repository's .npmrc installs onnxruntime-node without its CUDA provider (its CPU build). */
const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** No Vulkan driver for the loader: VK_DRIVER_FILES wins over VK_ICD_FILENAMES where both are read. */
const NO_VULKAN_DRIVER = { VK_ICD_FILENAMES: '/nonexistent.json', VK_DRIVER_FILES: '/nonexistent.json' };

describe('sanagraph doctor', () => {
  let plain: Promise<DoctorReport> | undefined;
  /** The report in this machine's own environment (made once, read by two tests). */
  const plainReport = () => (plain ??= doctorJson());

  it('reports ONNX Runtime, the CPU working, CUDA missing with the libraries it lacks, and exits 0', async () => {
    const report = await plainReport();
    assert.equal(report.onnxruntime.package, ortPackage.version);
    assert.equal(report.onnxruntime.native, ortPackage.version, 'the native library is the version the package ships');
    assert.deepEqual(report.providers.map((p) => p.device), ['cpu', 'webgpu', 'cuda']);

    const cpu = device(report, 'cpu');
    assert.equal(cpu.works, true, cpu.reason);
    assert.equal(cpu.reason, undefined);
    assert.equal(typeof cpu.ms, 'number');

    const cuda = device(report, 'cuda');
    const absent = CUDA_PROVIDER_LIBRARIES.filter((f) => !existsSync(path.join(report.onnxruntime.binDir, f)));
    // After `npm run setup:cuda` these are present and must not be reported; by default they are absent.
    for (const lib of CUDA_PROVIDER_LIBRARIES) assert.equal(cuda.missingLibraries.includes(lib), absent.includes(lib), lib);
    if (absent.length) {
      assert.equal(cuda.works, false);
      for (const lib of absent) assert.ok(cuda.reason?.includes(lib), `the reason names ${lib}: ${cuda.reason}`);
      assert.ok(cuda.notes.some((n) => n.includes('npm run setup:cuda')), cuda.notes.join('\n'));
      assert.match(cuda.error ?? '', /Failed to load shared library|providers/);
    }
    if (!existsSync('/dev/nvidia0')) {
      assert.equal(cuda.works, false);
      assert.ok(cuda.notes.includes('no NVIDIA GPU device (/dev/nvidia0 does not exist)'), cuda.notes.join('\n'));
    }
  });

  it('reports WebGPU on lavapipe as working in software where there is no GPU device', async () => {
    const report = await plainReport();
    const webgpu = device(report, 'webgpu');
    assert.equal(webgpu.works, true, webgpu.reason);
    assert.ok(webgpu.notes.includes('WebGPU adapter found'), webgpu.notes.join('\n'));
    assert.ok(webgpu.notes.some((n) => /^Vulkan drivers: .*lvp \(lavapipe, software\)/.test(n)), webgpu.notes.join('\n'));
    const gpu = hasGpuDevice();
    assert.equal(report.gpuDevices.length > 0, gpu);
    if (!gpu) {
      assert.equal(webgpu.software, true);
      assert.ok(webgpu.notes.some((n) => n.startsWith('no GPU device')), webgpu.notes.join('\n'));
    }
  });

  it('reports WebGPU unavailable, with the reason, when no Vulkan driver is found', async () => {
    const report = await doctorJson(NO_VULKAN_DRIVER);
    const webgpu = device(report, 'webgpu');
    assert.equal(webgpu.works, false);
    assert.match(webgpu.reason ?? '', /^no Vulkan driver: VK_DRIVER_FILES=\/nonexistent\.json names no readable driver manifest$/);
    assert.match(webgpu.error ?? '', /Failed to get a WebGPU adapter/);
    assert.ok(webgpu.notes.includes('no WebGPU adapter found'), webgpu.notes.join('\n'));
    assert.equal(device(report, 'cpu').works, true);
  });

  it('prints a table by default', async () => {
    const ran = await doctor([], NO_VULKAN_DRIVER);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, new RegExp(`^ONNX Runtime +onnxruntime-node ${ortPackage.version.replaceAll('.', '\\.')}, native library `, 'm'));
    assert.match(ran.stdout, /^cpu +works$/m);
    assert.match(ran.stdout, /^webgpu +unavailable: no Vulkan driver: VK_DRIVER_FILES=\/nonexistent\.json/m);
    assert.match(ran.stdout, /^ +- ONNX Runtime: Failed to get a WebGPU adapter/m);
    assert.match(ran.stdout, /^cuda +(works|unavailable: .+)$/m);
  });
});

describe('doctor parts', () => {
  const dirs: string[] = [];
  const dir = () => { dirs.push(tempDir()); return dirs.at(-1)!; };
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('probes with the model GraphBuilder writes', () => {
    const g = new GraphBuilder({ seed: 0, name: 'doctor' });
    const a = g.input('a', 'float32', [2]);
    const b = g.input('b', 'float32', [2]);
    g.output(g.op1('Add', [a, b]), 'sum', 'float32', [2]);
    assert.equal(Buffer.from(g.toBytes({ producerName: 'sanagraph doctor' })).toString('base64'), PROBE_MODEL_BASE64);
  });

  it('looks libraries up in LD_LIBRARY_PATH and names other major versions', () => {
    const libs = dir();
    for (const f of ['libdoctorfake.so.3', 'libdoctorfake.so.4']) writeFileSync(path.join(libs, f), '');
    const search = librarySearch({ LD_LIBRARY_PATH: `/nonexistent:${libs}` });
    assert.equal(findLibrary('libdoctorfake.so.3', search), path.join(libs, 'libdoctorfake.so.3'));
    assert.equal(findLibrary('libdoctorfake.so.2', search), undefined);
    assert.deepEqual(otherVersions('libdoctorfake.so.2', search), ['libdoctorfake.so.3', 'libdoctorfake.so.4']);
    assert.ok(findLibrary('libc.so.6', librarySearch({})), 'the C library is found through ldconfig or the default directories');
  });

  it('reports a provider ONNX Runtime rejects, a probe that hangs and a probe that dies, without throwing', async () => {
    const unknown = await probeProvider('nonexistent');
    assert.equal(unknown.ok, false);
    assert.match(unknown.error ?? '', /backend not found/);

    const slow = await probeProvider('cpu', { timeoutMs: 1 });
    assert.deepEqual([slow.ok, slow.error], [false, 'no answer within 0.001 s (stopped)']);

    const killer = path.join(dir(), 'die.cjs');
    writeFileSync(killer, "process.kill(process.pid, 'SIGKILL');\n");
    const died = await probeProvider('cpu', { env: { ...process.env, NODE_OPTIONS: `--require ${killer}` } });
    assert.equal(died.ok, false);
    assert.match(died.error ?? '', /^the probe process was killed by SIGKILL/);
  });
});
