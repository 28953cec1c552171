import { Expr, type ElementwiseKernel } from '../elementwise.ts';
import type { GraphBuilder } from './graph-builder.ts';

/**
 * An element-wise kernel's expressions as ONNX nodes, so the same formula (guidance, a solver
 * update) runs in WebAssembly on the host and in an ONNX graph on a device. Each operation is one
 * float32 ONNX op (Add, Sub, Mul, Div; pmin/pmax as Min/Max, which differ from them only for
 * NaN); a value used twice is computed once. Scalars are graph values (e.g. [1]-shaped inputs,
 * broadcast), arrays any float32 values of one shape.
 */
const ONNX_OP = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pmin: 'Min', pmax: 'Max' } as const;

export function addElementwise(
  g: GraphBuilder,
  kernel: ElementwiseKernel,
  inputs: Readonly<Record<string, string>>,
  scalars: Readonly<Record<string, string>> = {},
): string[] {
  const value = (name: string, kind: string) => {
    const v = kind === 'input' ? inputs[name] : scalars[name];
    if (v === undefined) throw new Error(`${kernel.name}: no graph value for ${kind} "${name}"`);
    return v;
  };
  const done = new Map<Expr, string>();
  const constants = new Map<number, string>();
  const emit = (e: Expr): string => {
    let v = done.get(e);
    if (v !== undefined) return v;
    if (e.kind === 'input') v = value(kernel.inputs[e.index], 'input');
    else if (e.kind === 'scalar') v = value(kernel.scalars[e.index], 'scalar');
    else if (e.kind === 'const') {
      v = constants.get(e.index);
      if (v === undefined) constants.set(e.index, (v = g.constant('float32', [e.index], [])));
    } else v = g.op1(ONNX_OP[e.kind], [emit(e.a!), emit(e.b!)]);
    done.set(e, v);
    return v;
  };
  return kernel.outputs.map(emit);
}
