/**
 * The node catalog, from the server's `/object_info` (ComfyUI's shape). An input whose type is
 * INT, FLOAT, STRING or BOOLEAN, or a list of choices, is a widget; any other type is a socket.
 */

export type WidgetKind = 'int' | 'float' | 'string' | 'boolean' | 'choice' | 'seed';

export interface WidgetSpec {
  name: string;
  widget: WidgetKind;
  options: { default?: unknown; min?: number; max?: number; step?: number; multiline?: boolean; choices?: string[]; tooltip?: string };
  optional: boolean;
}

export interface SocketSpec { name: string; type: string; optional: boolean; tooltip?: string }

export interface NodeSpec {
  type: string;
  displayName: string;
  category: string;
  description: string;
  outputNode: boolean;
  /** Inputs in their declared order. */
  inputs: (({ kind: 'socket' } & SocketSpec) | ({ kind: 'widget' } & WidgetSpec))[];
  outputs: { name: string; type: string }[];
}

type InputEntry = [string | string[], Record<string, unknown>?];
interface ObjectInfo {
  input: { required?: Record<string, InputEntry>; optional?: Record<string, InputEntry> };
  input_order?: { required?: string[]; optional?: string[] };
  output: string[];
  output_name: string[];
  display_name?: string;
  description?: string;
  category?: string;
  output_node?: boolean;
}

const WIDGET_TYPES: Record<string, WidgetKind> = { INT: 'int', FLOAT: 'float', STRING: 'string', BOOLEAN: 'boolean' };

/** The type an input's socket takes: its own, or its widget's. */
export function inputType(input: NodeSpec['inputs'][number]): string {
  return input.kind === 'socket' ? input.type : widgetSocketType(input);
}

/**
 * The data type a widget input accepts when linked (the engine checks a linked value against the
 * widget's own rules when it arrives): a list of choices takes a STRING.
 */
export function widgetSocketType(w: WidgetSpec): string {
  switch (w.widget) {
    case 'int': case 'seed': return 'INT';
    case 'float': return 'FLOAT';
    case 'boolean': return 'BOOLEAN';
    default: return 'STRING';
  }
}

export function parseCatalog(info: Record<string, ObjectInfo>): Map<string, NodeSpec> {
  const specs = new Map<string, NodeSpec>();
  for (const [type, node] of Object.entries(info)) {
    const inputs: NodeSpec['inputs'] = [];
    for (const group of ['required', 'optional'] as const) {
      const entries = node.input[group] ?? {};
      const order = node.input_order?.[group] ?? Object.keys(entries);
      for (const name of order) inputs.push(toInput(name, entries[name], group === 'optional'));
    }
    specs.set(type, {
      type,
      displayName: node.display_name || type,
      category: node.category || 'other',
      description: node.description ?? '',
      outputNode: node.output_node === true,
      inputs,
      outputs: node.output.map((t, i) => ({ name: node.output_name[i] ?? t.toLowerCase(), type: t })),
    });
  }
  return specs;
}

function toInput(name: string, entry: InputEntry, optional: boolean): NodeSpec['inputs'][number] {
  const [type, raw = {}] = entry;
  const options = raw as WidgetSpec['options'] & { control_after_generate?: boolean };
  if (Array.isArray(type)) return { kind: 'widget', name, optional, widget: 'choice', options: { ...options, choices: type } };
  const widget = WIDGET_TYPES[type];
  if (!widget) return { kind: 'socket', name, type, optional, tooltip: options.tooltip };
  return { kind: 'widget', name, optional, widget: options.control_after_generate ? 'seed' : widget, options };
}
