import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  describeNodes, Engine, formatProblem, parseWorkflow, WorkflowFormatError,
  type EngineEvent, type Workflow,
} from '../engine/index.ts';
import { EngineThread } from '../engine/engine-thread.ts';
import { DEVICES, type Device } from '../engine/onnx/providers.ts';
import { createEngine, type EngineSetupOptions } from '../nodes/engine-setup.ts';
import { ProgressPrinter } from './progress.ts';

/** Exit codes: 0 success, 1 failure (invalid workflow, node error, interrupt). */
class CliError extends Error {}

function readWorkflow(file: string): Workflow {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read workflow ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseWorkflow(json);
  } catch (e) {
    if (e instanceof WorkflowFormatError) throw new CliError(`${file}: ${e.message}`);
    throw e;
  }
}

/** `--set 5.steps=30`: the value is JSON when it parses as JSON, else a plain string. */
export function applySet(workflow: Workflow, assignment: string): void {
  const eq = assignment.indexOf('=');
  const key = eq < 0 ? '' : assignment.slice(0, eq);
  const dot = key.lastIndexOf('.');
  if (eq < 0 || dot <= 0 || dot === key.length - 1) {
    throw new CliError(`--set ${assignment}: expected <nodeId>.<input>=<value>, e.g. --set 5.steps=30`);
  }
  const [id, input, raw] = [key.slice(0, dot), key.slice(dot + 1), assignment.slice(eq + 1)];
  const node = workflow.nodes[id];
  if (!Object.hasOwn(workflow.nodes, id)) {
    throw new CliError(`--set ${assignment}: the workflow has no node "${id}" (its nodes: ${Object.keys(workflow.nodes).join(', ')})`);
  }
  let value: unknown = raw;
  try { value = JSON.parse(raw); } catch { /* a plain string */ }
  node.inputs[input] = value;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535; 0 picks a free one)');
  return n;
}

function parseDevice(value: string): Device {
  if (!(DEVICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${DEVICES.join(', ')}`);
  return value as Device;
}

function parseBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a size such as 512MB or 2GiB');
  const unit = (m[2] ?? '').toLowerCase().replace(/i?b$/, '');
  return Math.round(Number(m[1]) * 1024 ** ' kmgt'.indexOf(unit || ' '));
}

interface EngineFlags { outputDir?: string; customNodes?: string[]; cacheBytes?: number; debug?: boolean; modelsDir?: string; inputDir?: string; threads?: number; device?: Device }

function setupOptions(opts: EngineFlags): EngineSetupOptions {
  return {
    outputDir: opts.outputDir, modelsDir: opts.modelsDir, inputDir: opts.inputDir, threads: opts.threads,
    cacheBytes: opts.cacheBytes, debug: opts.debug, device: opts.device,
    customNodes: opts.customNodes ?? (existsSync('custom_nodes') ? ['custom_nodes'] : []),
  };
}

/** The engine on this thread: for validation and the node catalog (it runs nothing). */
async function makeEngine(opts: EngineFlags) {
  const { engine, report } = await createEngine({ ...setupOptions(opts), sessions: 'worker' });
  for (const f of report.failed) console.error(`warning: custom nodes ${f.path} skipped: ${f.error}`);
  return engine;
}

function printProblems(engine: Engine, workflow: Workflow, json: boolean): boolean {
  const { problems, order } = engine.validate(workflow);
  if (json) {
    if (problems.length) console.log(JSON.stringify({ type: 'validation_error', data: { problems } }));
  } else if (problems.length) {
    console.error(`The workflow has ${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
    for (const p of problems) console.error(`  - ${formatProblem(p)}`);
  }
  return problems.length === 0 && order.length > 0;
}

/** The files an output node reported, as paths on disk. */
function filesOf(engine: Engine, output: Record<string, unknown[]>): string[] {
  const files: string[] = [];
  for (const entries of Object.values(output)) {
    for (const e of entries) {
      const f = e as { filename?: unknown; subfolder?: unknown; type?: unknown };
      if (typeof f?.filename !== 'string') continue;
      const root = f.type === 'temp' ? engine.tempRoot : engine.outputDir;
      files.push(path.join(root, typeof f.subfolder === 'string' ? f.subfolder : '', f.filename));
    }
  }
  return files;
}

async function runCommand(file: string, opts: EngineFlags & { set?: string[]; json?: boolean; only?: string[] }): Promise<number> {
  const workflow = readWorkflow(file);
  for (const s of opts.set ?? []) applySet(workflow, s);
  const engine = await makeEngine(opts);
  const validated = engine.validate(workflow, opts.only);
  if (validated.problems.length) {
    printProblems(engine, workflow, opts.json ?? false);
    return 1;
  }
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\ninterrupting (Ctrl+C again to quit at once)...');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const printer = opts.json ? undefined : new ProgressPrinter(validated.workflow, process.stderr);
  const onEvent = (event: EngineEvent) => {
    if (opts.json) console.log(JSON.stringify(event));
    else printer!.handle(event);
  };
  // The run happens on an engine thread (where the models live too), so Ctrl+C and progress stay prompt.
  const runner = new EngineThread({ setup: new URL('../nodes/engine-setup.ts', import.meta.url).href, options: setupOptions(opts) });
  try {
    const result = await runner.execute(workflow, { signal: controller.signal, onEvent, targets: opts.only });
    printer?.done();
    if (!opts.json) {
      for (const [id, output] of Object.entries(result.outputs)) {
        const type = validated.workflow.nodes[id]?.type ?? '';
        const files = filesOf(engine, output);
        for (const f of files) console.log(f);
        if (files.length === 0) for (const t of output.text ?? []) console.log(`node ${id} (${type}): ${String(t)}`);
      }
      if (result.status === 'error') {
        const e = result.error!;
        console.error(`error in node ${e.node_id} (${e.node_type}): ${e.exception_message}`);
        if (e.traceback.length) console.error(e.traceback.join('\n'));
      }
      if (result.status === 'interrupted') console.error('interrupted');
    }
    return result.status === 'success' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    await runner.close();
  }
}

async function validateCommand(file: string, opts: { customNodes?: string[]; json?: boolean }): Promise<number> {
  const workflow = readWorkflow(file);
  const engine = await makeEngine(opts);
  const ok = printProblems(engine, workflow, opts.json ?? false);
  if (ok) {
    const { order } = engine.validate(workflow);
    if (opts.json) console.log(JSON.stringify({ type: 'valid', data: { nodes: Object.keys(workflow.nodes).length, will_run: order.length } }));
    else console.log(`${file} is valid: ${Object.keys(workflow.nodes).length} nodes, ${order.length} would run`);
  }
  return ok ? 0 : 1;
}

async function nodesCommand(opts: { customNodes?: string[]; json?: boolean }): Promise<number> {
  const engine = await makeEngine(opts);
  const info = describeNodes(engine.registry);
  if (opts.json) {
    console.log(JSON.stringify(info, null, 2));
    return 0;
  }
  const byCategory = new Map<string, string[]>();
  for (const node of Object.values(info)) {
    const inputs = [...node.input_order.required, ...node.input_order.optional.map((n) => `${n}?`)].join(', ');
    const outputs = node.output.map((t, i) => `${node.output_name[i]}:${t}`).join(', ') || (node.output_node ? 'output node' : '-');
    const line = `  ${node.name}(${inputs}) → ${outputs}\n      ${node.description}`;
    byCategory.set(node.category, [...(byCategory.get(node.category) ?? []), line]);
  }
  for (const [category, lines] of [...byCategory].sort()) console.log(`${category}\n${lines.join('\n')}`);
  return 0;
}

/** Exit status 0 when the CPU works: a missing GPU is reported, not a failure. */
async function doctorCommand(opts: { json?: boolean; timeout: number }): Promise<number> {
  const { formatReport, runDoctor } = await import('../engine/onnx/doctor.ts'); // only this command needs it
  const report = await runDoctor({ timeoutMs: opts.timeout * 1000 });
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.providers.find((p) => p.device === 'cpu')?.works ? 0 : 1;
}

export function buildProgram(): Command {
  const program = new Command('sanagraph')
    .description('Node-graph workflows for Sana text-to-image models')
    .showHelpAfterError();
  const deviceOption = ['--device <device>', 'device for LoadPipeline nodes set to auto: auto, cpu, webgpu or cuda', parseDevice, 'auto'] as const;
  const customNodes = ['--custom-nodes <dir>', 'load custom node packages from this directory (repeatable; default ./custom_nodes if it exists)', collect] as const;

  /** The engine's options that `run` and `serve` share. */
  const engineOptions = (command: Command) => command
    .option('--models-dir <dir>', 'where LoadPipeline finds model folders', 'models')
    .option('--threads <n>', 'ONNX Runtime threads per model (default: all cores)', (v) => parsePositive(v))
    .option(...deviceOption)
    .option(...customNodes)
    .option('--cache-bytes <size>', 'result cache budget, e.g. 512MB (default 2GiB)', parseBytes);

  engineOptions(program.command('run <workflow>'))
    .description('validate and run a workflow file (sanagraph or ComfyUI API format)')
    .option('--set <node.input=value>', 'override an input, e.g. --set 5.steps=30 (repeatable)', collect)
    .option('--output-dir <dir>', 'where output nodes write files', 'output')
    .option('--input-dir <dir>', 'where relative input file paths (LoadLatent, ...) resolve', '.')
    .option('--only <nodeId>', 'run only this node and its ancestors (repeatable)', collect)
    .option('--json', 'print events as JSON lines instead of progress')
    .option('--debug', 'include stack traces in errors')
    .action(async (file, opts) => { process.exitCode = await runCommand(file, opts); });

  program.command('validate <workflow>')
    .description('check a workflow without running it')
    .option(...customNodes)
    .option('--json', 'print the result as JSON')
    .action(async (file, opts) => { process.exitCode = await validateCommand(file, opts); });

  program.command('nodes')
    .description('list the available nodes (--json: the same description as the server\'s /object_info)')
    .option(...customNodes)
    .option('--json', 'print as JSON')
    .action(async (opts) => { process.exitCode = await nodesCommand(opts); });

  program.command('doctor')
    .description('check which devices (cpu, webgpu, cuda) can run models here, and why the others cannot')
    .option('--json', 'print the report as JSON')
    .option('--timeout <seconds>', 'how long each device may take to load and run a tiny test model', (v) => parsePositive(v), 60)
    .action(async (opts) => { process.exitCode = await doctorCommand(opts); });

  engineOptions(program.command('serve'))
    .description('start the HTTP/WebSocket server: ComfyUI-compatible API, queue and history (docs/server.md)')
    .option('--host <address>', 'address to listen on; anything but loopback requires a token', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', parsePort, 8188)
    .option('--data-dir <dir>', 'queue and history database, saved workflows, temp files', 'data')
    .option('--token <token>', 'require this token on every request (default: $SANAGRAPH_TOKEN)')
    .option('--cors-origin <origin>', 'allow this one browser origin (CORS); off by default')
    .option('--output-dir <dir>', 'where output nodes write files (/view?type=output)', 'output')
    .option('--input-dir <dir>', 'uploads and relative input files (/view?type=input)', 'input')
    .option('--max-queue <n>', 'pending prompts allowed at once, more get 429 (default 10000)', (v) => parsePositive(v))
    .option('--history-size <n>', 'history entries kept (default 10000)', (v) => parsePositive(v))
    .option('--max-upload <size>', 'largest image upload (default 32MiB)', parseBytes)
    .option('--max-body <size>', 'largest JSON request body (default 16MiB)', parseBytes)
    .option('--debug', 'include stack traces in error answers and events')
    .option('--queue <redis-url>', 'put prompts on a Redis (BullMQ) queue for `sanagraph worker`s instead of running them here (docs/scaling.md)')
    .option('--local-worker', 'with --queue: also run a worker in this process')
    .action(async (opts) => {
      const { serve } = await import('../server/serve.ts'); // loaded only here: other commands stay quick to start
      if (opts.localWorker && !opts.queue) throw new CliError('--local-worker needs --queue redis://host:port');
      process.exitCode = await serve({
        host: opts.host, port: opts.port, dataDir: opts.dataDir, token: opts.token, corsOrigin: opts.corsOrigin, debug: opts.debug,
        maxQueue: opts.maxQueue, historySize: opts.historySize, maxUploadBytes: opts.maxUpload, maxJsonBytes: opts.maxBody,
        engine: setupOptions(opts), // the server confines workflow paths to its folders by default
        queue: opts.queue, localWorker: opts.localWorker,
      });
    });

  engineOptions(program.command('worker'))
    .description('run prompts from a server\'s Redis queue (serve --queue), with its own engine and models (docs/scaling.md)')
    .requiredOption('--queue <redis-url>', 'the Redis the server queues prompts on, e.g. redis://10.0.0.5:6379')
    .option('--name <id>', 'worker id shown in /queue and /system_stats (default: host-pid-random)')
    .option('--data-dir <dir>', 'where outputs wait until sent to the server (default: a temp folder)')
    .option('--stall-timeout <seconds>', 'a worker silent this long (killed, frozen) loses its prompt to another worker', (v) => parsePositive(v), 30)
    .option('--debug', 'include stack traces in errors')
    .action(async (opts) => {
      const { workerCommand } = await import('./worker.ts');
      process.exitCode = await workerCommand({
        queue: opts.queue, name: opts.name, dataDir: opts.dataDir, stallTimeout: opts.stallTimeout,
        engine: setupOptions(opts),
      });
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `sanagraph run ... --json | head` closes our stdout early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    console.error(`error: ${e.message}`);
    process.exitCode = 1;
  }
}
