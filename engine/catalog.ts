import type { InputSpec } from './inputs.ts';
import type { NodeRegistry, RegisteredNode } from './registry.ts';

/**
 * The node catalog in ComfyUI's `/object_info` shape, so existing clients can read it:
 * inputs as `required`/`optional` maps of `[TYPE, options]` (a dropdown's TYPE is its list of choices).
 */
export interface NodeInfo {
  input: { required: Record<string, [unknown, Record<string, unknown>]>; optional: Record<string, [unknown, Record<string, unknown>]> };
  input_order: { required: string[]; optional: string[] };
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  output_tooltips: (string | undefined)[];
  name: string;
  display_name: string;
  description: string;
  category: string;
  output_node: boolean;
  python_module: string;
  /** Our addition: the node's version, part of its cache key. */
  version: number;
}

function inputEntry(spec: InputSpec): [unknown, Record<string, unknown>] {
  const extra: Record<string, unknown> = spec.tooltip ? { tooltip: spec.tooltip } : {};
  if (spec.kind === 'socket') return [spec.type, extra];
  const options: Record<string, unknown> = { ...spec.options, ...extra };
  if (spec.default !== undefined) options.default = spec.default;
  if (spec.widget === 'COMBO') return [[...(spec.choices ?? [])], options];
  return [spec.widget, options];
}

export function describeNode({ def, source, outputTypes }: RegisteredNode): NodeInfo {
  const info: NodeInfo = {
    input: { required: {}, optional: {} },
    input_order: { required: [], optional: [] },
    output: [...outputTypes],
    output_is_list: def.outputs.map(() => false),
    output_name: def.outputs.map((o) => o.name),
    output_tooltips: def.outputs.map((o) => o.tooltip),
    name: def.type,
    display_name: def.displayName ?? def.type,
    description: def.description,
    category: def.category,
    output_node: def.output === true,
    python_module: source,
    version: def.version ?? 1,
  };
  for (const [name, spec] of Object.entries(def.inputs)) {
    const group = spec.optional ? 'optional' : 'required';
    info.input[group][name] = inputEntry(spec);
    info.input_order[group].push(name);
  }
  return info;
}

export function describeNodes(registry: NodeRegistry): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  for (const node of registry.all()) out[node.def.type] = describeNode(node);
  return out;
}
