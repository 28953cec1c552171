import { describeNode } from '../engine/catalog.ts';
import { acceptedType } from '../engine/inputs.ts';
import type { NodeRegistry } from '../engine/registry.ts';
import type { Problem } from '../engine/validate.ts';
import { isLink, type Workflow } from '../engine/workflow.ts';
import type { ErrorBody } from './http-errors.ts';

/**
 * Our validation problems in ComfyUI's `POST /prompt` error shape. Like ComfyUI, a prompt runs
 * when at least one of its outputs is valid: the broken ones are left out and reported in
 * `node_errors` (with `dependent_outputs`); only when no output is valid is it a 400.
 * Each error keeps our own code and message in `extra_info.problem`.
 */
export type NodeErrors = Record<string, { errors: ErrorBody[]; dependent_outputs: string[]; class_type: string }>;

export type Verdict =
  | { ok: true; outputs: string[]; nodeErrors: NodeErrors }
  | { ok: false; error: ErrorBody; nodeErrors: NodeErrors };

const error = (type: string, message: string, details = '', extra_info: Record<string, unknown> = {}): ErrorBody => ({ type, message, details, extra_info });

/** Python's repr of a list of strings, as ComfyUI's messages show choices. */
const pyList = (items: readonly string[]) => `[${items.map((s) => `'${s}'`).join(', ')}]`;

/** Problems that stop the whole prompt, as ComfyUI's top-level error. */
function wholePromptError(problems: Problem[]): ErrorBody | undefined {
  const unknown = problems.find((p) => p.code === 'unknown_node_type');
  if (unknown) return error('invalid_prompt', `Cannot execute because node ${unknown.nodeType} does not exist.`, `Node ID '#${unknown.nodeId}'`, { problem: { code: unknown.code, message: unknown.message } });
  const target = problems.find((p) => p.code === 'unknown_target');
  if (target) return error('invalid_prompt', `Cannot execute because node ${target.nodeId} is not in the prompt.`, target.message);
  if (problems.some((p) => p.code === 'no_output')) return error('prompt_no_outputs', 'Prompt has no outputs', '');
  const other = problems.find((p) => p.nodeId === null);
  return other && error('invalid_prompt', other.message, '');
}

function invalidValue(p: Problem, spec: { kind: string; widget?: string; options?: Readonly<Record<string, unknown>>; choices?: readonly string[] } | undefined, raw: unknown, extra: Record<string, unknown>): ErrorBody {
  const input = p.input ?? '';
  if (spec?.kind === 'widget' && spec.widget === 'COMBO' && typeof raw === 'string') {
    const choices = spec.choices ?? [];
    const long = choices.length > 20;
    return error('value_not_in_list', 'Value not in list', `${input}: '${raw}' not in ${long ? `(list of length ${choices.length})` : pyList(choices)}`,
      { ...extra, input_config: long ? null : extra.input_config, received_value: raw });
  }
  if (spec?.kind === 'widget' && (spec.widget === 'INT' || spec.widget === 'FLOAT') && typeof raw === 'number' && Number.isFinite(raw)) {
    const { min, max } = spec.options as { min?: number; max?: number };
    if (min !== undefined && raw < min) return error('value_smaller_than_min', `Value ${raw} smaller than min of ${min}`, input, { ...extra, received_value: raw });
    if (max !== undefined && raw > max) return error('value_bigger_than_max', `Value ${raw} bigger than max of ${max}`, input, { ...extra, received_value: raw });
  }
  const type = spec?.kind === 'widget' ? spec.widget : 'input';
  return error('invalid_input_type', `Failed to convert an input value to a ${type} value`, `${input}, ${JSON.stringify(raw)}, ${p.message}`,
    { ...extra, received_value: raw, exception_message: p.message });
}

/** One problem as a ComfyUI node error. */
export function toComfyError(p: Problem, workflow: Workflow, registry: NodeRegistry): ErrorBody {
  const node = p.nodeId === null ? undefined : workflow.nodes[p.nodeId];
  const registered = node && registry.get(node.type);
  const spec = p.input && registered && Object.hasOwn(registered.def.inputs, p.input) ? registered.def.inputs[p.input] : undefined;
  const raw = p.input ? node?.inputs[p.input] : undefined;
  const extra: Record<string, unknown> = { problem: { code: p.code, message: p.message } };
  if (p.input) {
    extra.input_name = p.input;
    if (spec) extra.input_config = describeNode(registered!).input[spec.optional ? 'optional' : 'required'][p.input];
  }
  const input = p.input ?? '';
  switch (p.code) {
    case 'missing_input':
      return error('required_input_missing', 'Required input is missing', input, extra);
    case 'invalid_value':
      return invalidValue(p, spec, raw, extra);
    case 'type_mismatch': {
      const from = isLink(raw) ? workflow.nodes[raw[0]] : undefined;
      const received = isLink(raw) && from ? registry.get(from.type)?.outputTypes[raw[1]] : undefined;
      const expected = spec ? acceptedType(spec) : '?';
      return error('return_type_mismatch', 'Return type mismatch between linked nodes',
        `${input}, received_type(${received}) mismatch input_type(${expected})`, { ...extra, received_type: received, linked_node: raw });
    }
    case 'bad_output_index':
    case 'missing_link_node':
      return error('bad_linked_input', `Bad linked input: ${p.message}`, input, { ...extra, received_value: raw });
    case 'cycle':
      return error('dependency_cycle', 'Dependency cycle detected', p.message, extra);
    default:
      return error(p.code, p.message, input, extra);
  }
}

/** The nodes a target depends on (itself included), following links through the workflow. */
function closure(workflow: Workflow, target: string): Set<string> {
  const seen = new Set<string>();
  const stack = [target];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || !Object.hasOwn(workflow.nodes, id)) continue;
    seen.add(id);
    for (const value of Object.values(workflow.nodes[id].inputs)) if (isLink(value)) stack.push(value[0]);
  }
  return seen;
}

/** Decides which outputs can run despite the problems, and reports the rest as ComfyUI does. */
export function judgePrompt(problems: Problem[], workflow: Workflow, registry: NodeRegistry, targets: string[]): Verdict {
  const whole = wholePromptError(problems);
  if (whole) return { ok: false, error: whole, nodeErrors: {} };
  const nodeErrors: NodeErrors = {};
  for (const p of problems) {
    const id = p.nodeId!;
    nodeErrors[id] ??= { errors: [], dependent_outputs: [], class_type: workflow.nodes[id]?.type ?? p.nodeType ?? '' };
    nodeErrors[id].errors.push(toComfyError(p, workflow, registry));
  }
  const good: string[] = [];
  for (const target of targets) {
    let ok = true;
    for (const id of closure(workflow, target)) {
      if (!nodeErrors[id]) continue;
      nodeErrors[id].dependent_outputs.push(target);
      ok = false;
    }
    if (ok) good.push(target);
  }
  if (good.length) return { ok: true, outputs: good, nodeErrors };
  const lines = Object.values(nodeErrors).flatMap((n) => n.errors.map((e) => `${e.message}: ${e.details}`));
  return { ok: false, error: error('prompt_outputs_failed_validation', 'Prompt outputs failed validation', lines.join('\n')), nodeErrors };
}
