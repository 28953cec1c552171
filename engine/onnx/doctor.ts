import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { firstLine, hasGpuDevice } from './providers.ts';

/**
 * `sanagraph doctor`: which ONNX Runtime execution providers work on this machine, and why the
 * others do not. Each provider is tried for real (a tiny model loaded and run once) in a child
 * process of its own, since a failing native provider may abort the process that loads it; the
 * static checks around it (shared libraries the dynamic loader would not find, GPU device nodes,
 * Vulkan drivers) say why. Nothing here knows about Sana or the engine.
 */

export const DOCTOR_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type DoctorProvider = (typeof DOCTOR_PROVIDERS)[number];

export interface ProviderReport {
  device: DoctorProvider;
  works: boolean;
  /** Works, but on a software rasterizer (WebGPU without a GPU): slower than the CPU provider. */
  software: boolean;
  /** Why it does not work, in one line (absent when it works). */
  reason?: string;
  /** Shared libraries it needs that the dynamic loader would not find. */
  missingLibraries: string[];
  /** What else was found: devices, drivers, libraries of other versions. */
  notes: string[];
  /** ONNX Runtime's error when the probe model was loaded on this device (its first line). */
  error?: string;
  /** Milliseconds the probe took to create its session and run it once. */
  ms?: number;
}

export interface DoctorReport {
  onnxruntime: {
    /** onnxruntime-node's package version. */
    package: string;
    /** The native library's version (its ELF symbol version), where it could be read. */
    native?: string;
    /** Where onnxruntime-node's native files are, and where its CUDA provider libraries belong. */
    binDir: string;
  };
  node: string;
  platform: string;
  /** GPU device nodes present (/dev/dri/renderD*, /dev/nvidia0). */
  gpuDevices: string[];
  /** NVIDIA GPUs and driver, where the driver is visible. */
  nvidia?: { driver?: string; gpus: string[] };
  providers: ProviderReport[];
}

export interface DoctorOptions {
  /** Environment for the checks and the probe processes (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** How long each provider may take to load and run the probe model (default 60 s). */
  timeoutMs?: number;
  providers?: readonly DoctorProvider[];
}

// ---------------------------------------------------------------------------------------------
// What the CUDA provider needs

/**
 * ONNX Runtime loads its CUDA provider from these files beside its own library. onnxruntime-node's
 * npm package leaves them out (too large for the registry); its installer downloads them
 * (`npm run setup:cuda`).
 */
const ORT_CUDA_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
/**
 * What the CUDA provider library of ORT's CUDA 12 builds (1.19 and later: CUDA 12.x, cuDNN 9.x)
 * links to; the Linux list onnxruntime-gpu's `preload_dlls` loads. Another major version (CUDA
 * 13's libcudart.so.13) does not do.
 */
const CUDA12_LIBRARIES = ['libcudart.so.12', 'libcublasLt.so.12', 'libcublas.so.12', 'libcufft.so.11', 'libcurand.so.10'];
const CUDNN9_LIBRARIES = ['libcudnn.so.9'];
/** The NVIDIA driver's user-space library, which the CUDA runtime loads. */
const DRIVER_LIBRARIES = ['libcuda.so.1'];

// ---------------------------------------------------------------------------------------------
// The probe: a tiny model, loaded and run in a child process per provider

/**
 * `sum = a + b` over two float32[2] inputs (opset 17). Written by engine/onnx/graph-builder.ts's
 * GraphBuilder (tests/doctor.test.ts rebuilds it and compares), kept here as bytes because tools/
 * is not part of the installed package.
 */
export const PROBE_MODEL_BASE64 =
  'CAgSEHNhbmFncmFwaCBkb2N0b3I6fgoZCgFhCgFiEgVBZGRfMBoFQWRkXzAiA0FkZAokCgVBZGRfMBIDc3VtGgxzdW1faWRlbnRpdHkiCElkZW50aXR5EgZkb2N0b3JaDwoBYRIKCggIARIECgIIAloPCgFiEgoKCAgBEgQKAggCYhEKA3N1bRIKCggIARIECgIIAkICEBE=';

/**
 * The child's program (argv: onnxruntime-node's URL, the provider, the model). It answers with one
 * JSON line; a native crash or hang gives none, which the parent reports instead.
 */
const PROBE_SCRIPT = `
const [ortUrl, provider, model] = process.argv.slice(1);
const answer = (value) => process.stdout.write(JSON.stringify(value) + '\\n', () => process.exit(0));
try {
  const ort = (await import(ortUrl)).default;
  ort.env.logLevel = 'error'; // ORT logs why a provider library failed to load at this level
  const start = performance.now();
  const session = await ort.InferenceSession.create(Buffer.from(model, 'base64'), { executionProviders: [provider] });
  const { sum } = await session.run({
    a: new ort.Tensor('float32', Float32Array.of(1, 2), [2]),
    b: new ort.Tensor('float32', Float32Array.of(3, 4), [2]),
  });
  const got = Array.from(sum.data);
  if (got[0] !== 4 || got[1] !== 6) throw new Error('wrong result: [1, 2] + [3, 4] gave [' + got.join(', ') + ']');
  answer({ ok: true, ms: performance.now() - start });
} catch (e) {
  answer({ ok: false, error: String(e?.message ?? e) });
}
`;

export interface ProbeResult {
  ok: boolean;
  /** Why it failed: ONNX Runtime's error, or how the probe process ended. */
  error?: string;
  ms?: number;
  /** The probe's stderr: ORT's log of why a library did not load, the Vulkan loader's warnings. */
  stderr: string;
}

/** Loads and runs the probe model on one provider in a child process; never throws. */
export function probeProvider(provider: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const ortUrl = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, ortUrl, provider, PROBE_MODEL_BASE64], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-20_000); });
    const finish = (result: Omit<ProbeResult, 'stderr'>) => {
      clearTimeout(timer);
      resolve({ ...result, stderr: stripAnsi(stderr) });
    };
    child.on('error', (e) => finish({ ok: false, error: `the probe process did not start: ${e.message}` }));
    child.on('close', (code, signal) => {
      if (timedOut) return finish({ ok: false, error: `no answer within ${timeoutMs / 1000} s (stopped)` });
      const answer = stdout.trim().split('\n').reverse().map(parseJson).find((v) => v && typeof v.ok === 'boolean');
      if (answer) return finish({ ok: answer.ok === true, error: answer.error as string | undefined, ms: answer.ms as number | undefined });
      const last = stripAnsi(stderr).trim().split('\n').filter(Boolean).at(-1);
      finish({ ok: false, error: `the probe process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${last ? `: ${last}` : ''}` });
    });
  });
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try { return JSON.parse(line) as Record<string, unknown>; } catch { return undefined; }
}

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

// ---------------------------------------------------------------------------------------------
// onnxruntime-node

export function onnxruntimeInfo(): DoctorReport['onnxruntime'] {
  const packageJson = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  // The layout onnxruntime-node's binding.js loads from (and its installer writes into).
  const binDir = path.join(path.dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch);
  return { package: version, native: nativeVersion(binDir), binDir };
}

/**
 * The native library's version: ORT versions its exported symbols `VERS_<version>`, a name in the
 * dynamic string table near the start of the file (Linux; elsewhere unknown).
 */
function nativeVersion(binDir: string): string | undefined {
  const file = path.join(binDir, 'libonnxruntime.so.1');
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4 << 20);
    const n = readSync(fd, head, 0, head.length, 0);
    return /VERS_(\d+\.\d+\.\d+)/.exec(head.subarray(0, n).toString('latin1'))?.[1];
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared libraries, looked up as the dynamic loader would

export interface LibrarySearch {
  /** Searched first, in order: LD_LIBRARY_PATH, then the caller's own (a RUNPATH). */
  dirs: string[];
  /** `ldconfig -p`: soname → path, for this architecture. */
  cache: Map<string, string>;
  /** The loader's built-in directories, searched last. */
  defaults: string[];
}

const DEFAULT_LIBRARY_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];

export function librarySearch(env: NodeJS.ProcessEnv, runpath: string[] = []): LibrarySearch {
  const ldPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return { dirs: [...ldPath, ...runpath], cache: ldconfigCache(), defaults: DEFAULT_LIBRARY_DIRS };
}

/** Where the loader would find `soname`, or undefined. */
export function findLibrary(soname: string, search: LibrarySearch): string | undefined {
  for (const dir of search.dirs) if (existsSync(path.join(dir, soname))) return path.join(dir, soname);
  const cached = search.cache.get(soname);
  if (cached && existsSync(cached)) return cached;
  for (const dir of search.defaults) if (existsSync(path.join(dir, soname))) return path.join(dir, soname);
  return undefined;
}

/** Other major versions of a library (libcudart.so.13 for libcudart.so.12), to say what is there instead. */
export function otherVersions(soname: string, search: LibrarySearch): string[] {
  const stem = soname.replace(/\.so\..*$/, '.so.');
  const isOther = (name: string) => name !== soname && name.startsWith(stem) && /^\d+$/.test(name.slice(stem.length));
  const found = new Set([...search.cache.keys()].filter(isOther));
  for (const dir of [...search.dirs, ...search.defaults]) {
    try { for (const f of readdirSync(dir)) if (isOther(f)) found.add(f); } catch { /* not a directory */ }
  }
  return [...found].sort();
}

/** `ldconfig -p` parsed; empty where there is no ldconfig (not Linux, a minimal image). */
function ldconfigCache(): Map<string, string> {
  const cache = new Map<string, string>();
  if (process.platform !== 'linux') return cache;
  const arch = ({ x64: 'x86-64', arm64: 'AArch64' } as Record<string, string>)[process.arch];
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    let text: string;
    try {
      text = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^\s*(\S+) \(([^)]*)\) => (\S+)/.exec(line);
      // Libraries of another architecture (32-bit x86 on x64) are not candidates.
      if (m && (!arch || m[2].includes(arch)) && !cache.has(m[1])) cache.set(m[1], m[3]);
    }
    break;
  }
  return cache;
}

// ---------------------------------------------------------------------------------------------
// GPUs and Vulkan

function gpuDeviceNodes(): string[] {
  const dri = existsSync('/dev/dri') ? readdirSync('/dev/dri').filter((f) => f.startsWith('renderD')).map((f) => `/dev/dri/${f}`) : [];
  return [...dri, ...(existsSync('/dev/nvidia0') ? ['/dev/nvidia0'] : [])];
}

/** The NVIDIA driver's version (/proc/driver/nvidia/version) and GPUs (nvidia-smi, where installed). */
async function nvidiaInfo(): Promise<DoctorReport['nvidia']> {
  let driver: string | undefined;
  try {
    driver = /Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)/.exec(readFileSync('/proc/driver/nvidia/version', 'utf8'))?.[1];
  } catch { /* no NVIDIA kernel driver */ }
  const smi = await new Promise<string>((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { timeout: 5000 }, (e, out) => resolve(e ? '' : out));
  });
  const gpus: string[] = [];
  for (const line of smi.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [name, version] = line.split(',').map((s) => s.trim());
    gpus.push(name);
    driver ??= version;
  }
  return driver || gpus.length ? { driver, gpus } : undefined;
}

interface VulkanDrivers {
  /** The installable client drivers (ICDs) the Vulkan loader would see: manifest name and library. */
  drivers: { name: string; library: string }[];
  /** Where they came from when the environment chooses them: `VK_ICD_FILENAMES=/x.json`. */
  chosenBy?: string;
}

/**
 * The Vulkan drivers the loader would find: the manifests named by VK_DRIVER_FILES (or the older
 * VK_ICD_FILENAMES) when set, else those in its standard directories.
 */
function vulkanDrivers(env: NodeJS.ProcessEnv): VulkanDrivers {
  const variable = env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : env.VK_ICD_FILENAMES ? 'VK_ICD_FILENAMES' : undefined;
  let files: string[];
  if (variable) {
    files = env[variable]!.split(':').filter(Boolean).flatMap((f) => (isDirectory(f) ? jsonFiles(f) : [f]));
  } else {
    const home = env.HOME ?? '';
    const config = [env.XDG_CONFIG_HOME || path.join(home, '.config'), ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'), '/etc'];
    const data = [env.XDG_DATA_HOME || path.join(home, '.local/share'), ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':')];
    files = [...config, ...data].flatMap((d) => jsonFiles(path.join(d, 'vulkan', 'icd.d')));
  }
  const drivers: VulkanDrivers['drivers'] = [];
  for (const file of files) {
    try {
      const library = (JSON.parse(readFileSync(file, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path ?? '';
      drivers.push({ name: path.basename(file).replace(/_icd.*\.json$|\.json$/, ''), library });
    } catch { /* a missing or unreadable manifest is no driver */ }
  }
  return { drivers, chosenBy: variable ? `${variable}=${env[variable]}` : undefined };
}

function isDirectory(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

function jsonFiles(dir: string): string[] {
  try { return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f)); } catch { return []; }
}

/** Mesa's lavapipe: a CPU rasterizer that Dawn accepts as a WebGPU adapter. */
const isSoftwareDriver = (library: string) => /libvulkan_lvp\.so/.test(library);

// ---------------------------------------------------------------------------------------------
// Diagnosis per provider

interface Facts {
  binDir: string;
  search: LibrarySearch;
  env: NodeJS.ProcessEnv;
  gpuDevices: string[];
}

function diagnoseCpu(probe: ProbeResult): ProviderReport {
  return result('cpu', probe, { missing: [], notes: [] });
}

function diagnoseWebgpu(probe: ProbeResult, facts: Facts): ProviderReport {
  const notes: string[] = [];
  const missing: string[] = [];
  let cause: string | undefined;
  const linux = process.platform === 'linux';
  if (linux && !findLibrary('libvulkan.so.1', facts.search)) {
    missing.push('libvulkan.so.1');
    cause = 'no Vulkan loader: libvulkan.so.1 not found (install libvulkan1 and a Vulkan driver)';
  }
  const { drivers, chosenBy } = linux ? vulkanDrivers(facts.env) : { drivers: [], chosenBy: undefined };
  if (linux && drivers.length === 0) {
    cause ??= chosenBy ? `no Vulkan driver: ${chosenBy} names no readable driver manifest` : 'no Vulkan driver installed (no manifest in a vulkan/icd.d directory)';
  } else if (linux) {
    const names = new Set(drivers.map((d) => (isSoftwareDriver(d.library) ? `${d.name} (lavapipe, software)` : d.name)));
    notes.push(`Vulkan drivers${chosenBy ? ` (${chosenBy})` : ''}: ${[...names].join(', ')}`);
  }
  const gpu = hasGpuDevice();
  const onlySoftware = linux && drivers.length > 0 && drivers.every((d) => isSoftwareDriver(d.library));
  if (!gpu) notes.push('no GPU device (/dev/dri/renderD*, /dev/nvidia0): the only adapter can be a software rasterizer such as lavapipe, slower than the CPU provider (device "auto" skips it)');
  else if (onlySoftware) notes.push('the only Vulkan driver is a software rasterizer (lavapipe), slower than the CPU provider');
  if (probe.ok) notes.push('WebGPU adapter found');
  else if (/Failed to get a WebGPU adapter/.test(probe.error ?? '')) notes.push('no WebGPU adapter found');
  for (const line of new Set(probe.stderr.split('\n').map((l) => /vkCreateInstance: (.*)/.exec(l)?.[1]).filter(Boolean))) notes.push(`Vulkan loader: ${line}`);
  const report = result('webgpu', probe, { missing, notes, cause });
  report.software = probe.ok && (!gpu || onlySoftware);
  return report;
}

function diagnoseCuda(probe: ProbeResult, facts: Facts): ProviderReport {
  const notes: string[] = [];
  const nvidiaGpu = facts.gpuDevices.includes('/dev/nvidia0');
  const noGpu = 'no NVIDIA GPU device (/dev/nvidia0 does not exist)';
  if (!nvidiaGpu) notes.push(noGpu);
  if (probe.ok) return result('cuda', probe, { missing: [], notes });
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return result('cuda', probe, { missing: [], notes, cause: 'onnxruntime-node has a CUDA build for Linux x64 only' });
  }
  const missing = ORT_CUDA_LIBRARIES.filter((f) => !existsSync(path.join(facts.binDir, f)));
  if (missing.length) {
    notes.push(`onnxruntime-node is its CPU build: ${missing.join(', ')} missing from ${facts.binDir} (\`npm run setup:cuda\` installs its CUDA 12 build)`);
  }
  const lookup = (group: string, names: string[]) => {
    const absent = names.filter((n) => !findLibrary(n, facts.search));
    if (absent.length) notes.push(`${group} not found: ${absent.join(', ')}`);
    for (const n of absent) {
      const others = otherVersions(n, facts.search);
      if (others.length) notes.push(`${others.join(', ')} found instead of ${n}: another major version, which this build cannot use`);
    }
    missing.push(...absent);
  };
  lookup('CUDA 12', CUDA12_LIBRARIES);
  lookup('cuDNN 9', CUDNN9_LIBRARIES);
  lookup('NVIDIA driver library', DRIVER_LIBRARIES);
  // What the loader itself reported (ORT logs it): it may name a library the lists above lack.
  for (const m of probe.stderr.matchAll(/([\w.+-]+\.so[\w.]*): cannot open shared object file/g)) {
    if (!missing.includes(m[1])) missing.push(m[1]);
  }
  const cause = missing.length ? `missing ${missing.join(', ')}` : nvidiaGpu ? undefined : noGpu;
  return result('cuda', probe, { missing, notes, cause });
}

function result(device: DoctorProvider, probe: ProbeResult, found: { missing: string[]; notes: string[]; cause?: string }): ProviderReport {
  const report: ProviderReport = { device, works: probe.ok, software: false, missingLibraries: found.missing, notes: found.notes };
  if (probe.ok) report.ms = Math.round(probe.ms ?? 0);
  else {
    const error = firstLine(probe.error ?? 'unknown error');
    // The static checks explain it best; without one, ONNX Runtime's own words.
    report.reason = found.cause ?? error;
    report.error = error;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const providers = options.providers ?? DOCTOR_PROVIDERS;
  // The probes run while the static checks are made.
  const probes = providers.map((p) => probeProvider(p, { env, timeoutMs: options.timeoutMs }));
  const nvidia = nvidiaInfo();
  const onnxruntime = onnxruntimeInfo();
  const facts: Facts = { binDir: onnxruntime.binDir, env, search: librarySearch(env, [onnxruntime.binDir]), gpuDevices: gpuDeviceNodes() };
  const diagnose = { cpu: diagnoseCpu, webgpu: diagnoseWebgpu, cuda: diagnoseCuda };
  const reports = await Promise.all(providers.map(async (p, i) => diagnose[p](await probes[i], facts)));
  return {
    onnxruntime,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    gpuDevices: facts.gpuDevices,
    ...(await nvidia.then((n) => (n ? { nvidia: n } : {}))),
    providers: reports,
  };
}

/** The report as a table for people: one row per device, what was found indented below it. */
export function formatReport(report: DoctorReport): string {
  const { onnxruntime: ort } = report;
  const lines = [
    `ONNX Runtime   onnxruntime-node ${ort.package}, native library ${ort.native ?? 'version unknown'} (${ort.binDir})`,
    `Node.js        ${report.node} on ${report.platform}`,
    `GPU devices    ${report.gpuDevices.length ? report.gpuDevices.join(', ') : 'none (no /dev/dri/renderD*, no /dev/nvidia0)'}`,
  ];
  if (report.nvidia) {
    lines.push(`NVIDIA         ${report.nvidia.gpus.join(', ') || 'GPU name unknown (no nvidia-smi)'}, driver ${report.nvidia.driver ?? 'version unknown'}`);
  }
  lines.push('');
  for (const p of report.providers) {
    const status = p.works ? (p.software ? 'works, in software' : 'works') : 'unavailable';
    lines.push(`${p.device.padEnd(8)} ${status}${p.reason ? `: ${p.reason}` : ''}`);
    for (const note of p.notes) if (note !== p.reason) lines.push(`         - ${note}`);
    if (p.error && p.error !== p.reason) lines.push(`         - ONNX Runtime: ${p.error}`);
  }
  return lines.join('\n');
}
