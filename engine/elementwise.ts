import { newArray, onTake } from './scratch.ts';
import { Code, moduleBytes, Op, SimdOp, ValType } from './wasm/encoder.ts';

/**
 * Element-wise float32 kernels compiled to WebAssembly SIMD at first use.
 *
 * Scalar JavaScript runs ~2.5–5 ns per element on our 2-core VM (every Float32Array element is
 * widened to a double and rounded back); the per-step guidance and solver math and the decode's
 * post-processing touch 10⁴–10⁶ floats, which made them a tenth of a tiny model's run time.
 * Four lanes of f32x4 arithmetic do the same in a fraction of that.
 *
 * Exactness: every operation here is one IEEE float32 operation, rounded to nearest, as torch does
 * on float32 tensors and as `Math.fround(a op b)` does in JS (for + − × ÷ of two float32 values
 * the double result rounds to the same float32). WebAssembly never fuses a multiply and an add.
 * `pmin`/`pmax` are the "pseudo" min/max: pmax(x, 0) = x < 0 ? 0 : x (NaN passes through, as
 * torch.clamp does).
 */

type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pmin' | 'pmax';
const SIMD_OF: Record<BinaryOp, number> = {
  add: SimdOp.f32x4Add, sub: SimdOp.f32x4Sub, mul: SimdOp.f32x4Mul,
  div: SimdOp.f32x4Div, pmin: SimdOp.f32x4Pmin, pmax: SimdOp.f32x4Pmax,
};

export class Expr {
  constructor(
    readonly kind: 'input' | 'scalar' | 'const' | BinaryOp,
    /** The input's or scalar's position, or the constant's float32 value. */
    readonly index = 0,
    readonly a?: Expr,
    readonly b?: Expr,
  ) {}
}

const asExpr = (x: Expr | number): Expr => (x instanceof Expr ? x : new Expr('const', Math.fround(x)));
const binary = (kind: BinaryOp) => (a: Expr | number, b: Expr | number): Expr => new Expr(kind, 0, asExpr(a), asExpr(b));

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
/** b < a ? b : a */
export const pmin = binary('pmin');
/** a < b ? b : a */
export const pmax = binary('pmax');

// ---------------------------------------------------------------------------------------------
// One memory per thread, shared by every kernel of that thread.

const PAGE = 65536;
const memory = new WebAssembly.Memory({ initial: 16 });
let heap = new Float32Array(memory.buffer);

function reserve(bytes: number): Float32Array {
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) {
    memory.grow(Math.ceil(missing / PAGE)); // keeps the contents: resident copies stay valid
    heap = new Float32Array(memory.buffer);
  }
  return heap;
}

/**
 * Where element-wise kernels keep their inputs and outputs: three arenas, used in turn, so the
 * outputs of the last two calls are still in memory when the next one runs. An output copied
 * out to a JavaScript array stays *resident*: passed as an input to one of the next two calls,
 * the kernel reads it where it is instead of copying it in again (a sampler step's solver update
 * reads the guidance output and the previous update's outputs: 96 KiB less to copy per step on
 * the tiny model, with the caches cold after every model call). A resident entry is dropped when
 * its arena is reused, when the array goes back to the pool and out again (its contents
 * change then: `onTake`), and when the memory is used otherwise.
 */
const ARENAS = 3;
let arenaBytes = 0;
let nextArena = 0;
/** Resident arrays and the byte offset of their copy (which says the arena too). */
const resident = new Map<Float32Array, number>();

onTake((array) => { resident.delete(array); });

/** The byte offset of an arena of at least `bytes` for the next call; forgets what was resident there. */
function takeArena(bytes: number): number {
  if (bytes > arenaBytes) {
    arenaBytes = Math.ceil(bytes / PAGE) * PAGE;
    reserve(ARENAS * arenaBytes);
    resident.clear(); // the arenas moved
  }
  const base = nextArena * arenaBytes;
  nextArena = (nextArena + 1) % ARENAS;
  for (const [array, at] of resident) if (at >= base && at < base + arenaBytes) resident.delete(array);
  return base;
}

const paddedBytes = (n: number): number => Math.ceil(n / 4) * 16;

function instantiate(params: ValType[], locals: ValType[], body: Code): (...args: number[]) => void {
  const module = new WebAssembly.Module(moduleBytes({ params, locals, body }));
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports.run as (...args: number[]) => void;
}

// ---------------------------------------------------------------------------------------------
// Compiling expressions

/** Emits expressions, keeping values used more than once, scalars and constants in v128 locals. */
class Emitter {
  readonly code = new Code();
  readonly locals: ValType[] = [];
  private readonly slot = new Map<Expr, number>();
  private readonly emitted = new Set<Expr>();
  private readonly uses = new Map<Expr, number>();

  /**
   * @param firstLocal index of the first local after the params
   * @param scalarParam index of the first f32 param
   * @param loadInput pushes the v128 of input `index` for the current element
   */
  constructor(private readonly firstLocal: number, private readonly scalarParam: number, private readonly loadInput: (code: Code, index: number) => void) {}

  newLocal(type: ValType): number {
    return this.firstLocal + this.locals.push(type) - 1;
  }

  /** Counts uses, and splats every scalar and constant into a local once, before the loop. */
  prepare(roots: readonly Expr[]): void {
    const visit = (e: Expr) => {
      const seen = this.uses.get(e) ?? 0;
      this.uses.set(e, seen + 1);
      if (seen > 0) return;
      if (e.a) visit(e.a);
      if (e.b) visit(e.b);
    };
    roots.forEach(visit);
    const splat = new Map<string, number>();
    for (const e of this.uses.keys()) {
      if (e.kind !== 'scalar' && e.kind !== 'const') continue;
      const key = `${e.kind}${Object.is(e.index, -0) ? '-0' : e.index}`; // −0 is its own constant
      let local = splat.get(key);
      if (local === undefined) {
        local = this.newLocal(ValType.v128);
        splat.set(key, local);
        if (e.kind === 'scalar') this.code.get(this.scalarParam + e.index);
        else this.code.op(0x43, ...new Uint8Array(Float32Array.of(e.index).buffer)); // f32.const
        this.code.simd(SimdOp.f32x4Splat).set(local);
      }
      this.slot.set(e, local);
    }
  }

  /** Pushes the value of `e` (one f32x4 of the current four elements). */
  emit(e: Expr): void {
    const local = this.slot.get(e);
    if (local !== undefined && (this.emitted.has(e) || e.kind === 'scalar' || e.kind === 'const')) {
      this.code.get(local);
      return;
    }
    if (e.kind === 'input') this.loadInput(this.code, e.index);
    else {
      this.emit(e.a!);
      this.emit(e.b!);
      this.code.simd(SIMD_OF[e.kind as BinaryOp]);
    }
    if ((this.uses.get(e) ?? 0) > 1) {
      let slot = this.slot.get(e);
      if (slot === undefined) this.slot.set(e, (slot = this.newLocal(ValType.v128)));
      this.code.tee(slot);
    }
    this.emitted.add(e);
  }

  /** Starts a pass over other data: shared values are computed again (into the same locals). */
  nextPass(): void {
    this.emitted.clear();
  }

  /** `block loop (if i >= end: break) body; i += step; continue end end` */
  loop(i: number, end: number, step: number, body: () => void): void {
    this.code.op(Op.block, Op.void, Op.loop, Op.void);
    this.code.get(i).get(end).op(Op.i32GeU, Op.brIf, 1);
    body();
    this.code.get(i).i32(step).op(Op.i32Add).set(i).op(Op.br, 0, Op.end, Op.end);
  }
}

/** Variables for a kernel body, by name. */
type Vars<N extends string> = { readonly [K in N]: Expr };

export interface ElementwiseKernel {
  readonly name: string;
  /** Names of the array inputs and the scalars, in the order `run` takes them. */
  readonly inputs: readonly string[];
  readonly scalars: readonly string[];
  /** The expression of each output over `Expr('input', i)` and `Expr('scalar', j)` (for other backends: onnx/elementwise-graph.ts). */
  readonly outputs: readonly Expr[];
  /** Applies the kernel to inputs of equal length; returns new arrays (from `newArray`), one per output. */
  run(inputs: readonly Float32Array[], scalars?: readonly number[]): Float32Array[];
}

/**
 * Defines a kernel computing `outputs` arrays from `inputs` arrays and float32 scalars, element by
 * element. Compiled on first use.
 */
export function elementwise<I extends string, S extends string = never>(
  spec: { name: string; inputs: readonly I[]; scalars?: readonly S[] },
  body: (vars: Vars<I | S>) => Expr[],
): ElementwiseKernel {
  const scalars = spec.scalars ?? [];
  const vars = Object.fromEntries([
    ...spec.inputs.map((n, i) => [n, new Expr('input', i)]),
    ...scalars.map((n, i) => [n, new Expr('scalar', i)]),
  ]) as Vars<I | S>;
  const outputs = body(vars);
  const nIn = spec.inputs.length;
  const nOut = outputs.length;
  let fn: ((...args: number[]) => void) | undefined;

  // params: input pointers, output pointers, byte length, scalars; locals: i, then v128s.
  const compile = () => {
    const lengthParam = nIn + nOut;
    const params: ValType[] = [...Array<ValType>(nIn + nOut + 1).fill(ValType.i32), ...scalars.map(() => ValType.f32)];
    const i = params.length;
    const em = new Emitter(i + 1, lengthParam + 1, (code, index) => code.get(index).get(i).op(Op.i32Add).load());
    em.prepare(outputs);
    em.loop(i, lengthParam, 16, () => {
      outputs.forEach((out, k) => {
        em.code.get(nIn + k).get(i).op(Op.i32Add);
        em.emit(out);
        em.code.store();
      });
    });
    return instantiate(params, [ValType.i32, ...em.locals], em.code);
  };

  // The call's arguments, reused: pointers, byte length, scalars. A kernel call happens between
  // two model calls, with the caches cold: fewer allocations and closures are measurably cheaper.
  const args: number[] = new Array(nIn + nOut + 1 + scalars.length).fill(0);
  return {
    name: spec.name,
    inputs: spec.inputs,
    scalars,
    outputs,
    run(inputs, scalarValues = []) {
      if (inputs.length !== nIn || scalarValues.length !== scalars.length) {
        throw new Error(`${spec.name} takes ${nIn} arrays and ${scalars.length} scalars, got ${inputs.length} and ${scalarValues.length}`);
      }
      const n = inputs[0].length;
      for (const x of inputs) if (x.length !== n) throw new Error(`${spec.name}: inputs of different lengths (${n} and ${x.length})`);
      fn ??= compile();
      const region = paddedBytes(n);
      let at = takeArena(region * (nIn + nOut));
      for (let k = 0; k < nIn; k++) {
        const where = resident.get(inputs[k]);
        if (where !== undefined) { args[k] = where; continue; }
        heap.set(inputs[k], at / 4);
        args[k] = at;
        at += region;
      }
      for (let k = nIn; k < nIn + nOut; k++, at += region) args[k] = at;
      args[nIn + nOut] = region;
      for (let k = 0; k < scalars.length; k++) args[nIn + nOut + 1 + k] = scalarValues[k];
      fn.apply(null, args);
      const results: Float32Array[] = [];
      for (let k = nIn; k < nIn + nOut; k++) {
        const out = newArray(n);
        out.set(heap.subarray(args[k] / 4, args[k] / 4 + n));
        resident.set(out, args[k]);
        results.push(out);
      }
      return results;
    },
  };
}

// byte lanes of f32 lanes for i8x16.shuffle: lanes 0–3 from the first operand, 4–7 from the second
const lanes = (...f32Lanes: number[]): number[] => f32Lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);

/** Pixels per pass of channelsLast3 (a multiple of 4): 192 KiB of output. */
const CHUNK_PIXELS = 16384;

/**
 * A kernel that maps each element of three planes (channels-first [3, P]) and writes them
 * interleaved (channels-last [P, 3]): an image's [3, H, W] → [H, W, 3] in the same pass.
 * `out` may be `planes` itself: the result is computed in WebAssembly memory first. Writing into
 * an array that is already in use saves fresh memory, whose first touch costs a page fault per
 * 4 KiB (1.3 ms for a 512² image on our VM, more than the kernel itself).
 */
export function channelsLast3(name: string, body: (x: Expr) => Expr): { run(planes: Float32Array, out: Float32Array): Float32Array } {
  const x = new Expr('input', 0);
  const root = body(x);
  let fn: ((...args: number[]) => void) | undefined;
  // params: in, out, plane stride in bytes, bytes per plane to process; locals: i, o, r, g, b, then the emitter's.
  const compile = () => {
    const [inPtr, outPtr, planeBytes, countBytes, i, o, r, g, b] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    let plane = 0;
    const em = new Emitter(9, 4, (code) => {
      code.get(inPtr).get(i).op(Op.i32Add);
      if (plane > 0) code.get(planeBytes).op(Op.i32Add);
      if (plane > 1) code.get(planeBytes).op(Op.i32Add);
      code.load();
    });
    em.prepare([root]);
    em.loop(i, countBytes, 16, () => {
      for (const [p, local] of [[0, r], [1, g], [2, b]]) {
        plane = p;
        em.emit(root);
        em.code.set(local);
        em.nextPass();
      }
      // [r0 g0 b0 r1] [g1 b1 r2 g2] [b2 r3 g3 b3]
      const store = (offset: number, first: number[], second: number[]) => {
        em.code.get(outPtr).get(o).op(Op.i32Add).i32(offset).op(Op.i32Add);
        em.code.get(r).get(g).simd(SimdOp.i8x16Shuffle, ...lanes(...first));
        em.code.get(b).simd(SimdOp.i8x16Shuffle, ...lanes(...second));
        em.code.store();
      };
      store(0, [0, 4, 1, 5], [0, 1, 4, 2]);
      store(16, [5, 2, 6, 3], [0, 5, 1, 2]);
      store(32, [3, 7, 0, 0], [6, 0, 1, 7]);
      em.code.get(o).i32(48).op(Op.i32Add).set(o);
    });
    return instantiate([ValType.i32, ValType.i32, ValType.i32, ValType.i32], [ValType.i32, ValType.i32, ValType.v128, ValType.v128, ValType.v128, ...em.locals], em.code);
  };
  return {
    run(planes, out) {
      const plane = planes.length / 3;
      if (!Number.isInteger(plane)) throw new Error(`${name}: needs 3 planes of equal size, got ${planes.length} elements`);
      if (out.length !== planes.length) throw new Error(`${name}: the output has ${out.length} elements for ${planes.length}`);
      fn ??= compile();
      // Each plane is padded to whole f32x4s; the padding pixels land after the real ones in the output.
      const padded = paddedBytes(plane) / 4;
      // The output goes through WebAssembly memory a chunk at a time, small enough to stay in the
      // cache between the kernel writing it and the copy out reading it.
      const chunk = Math.min(CHUNK_PIXELS, padded);
      const outBase = 3 * padded;
      resident.clear(); // this pass uses the memory from the start
      const memoryView = reserve((outBase + 3 * chunk) * 4);
      for (let k = 0; k < 3; k++) memoryView.set(planes.subarray(k * plane, (k + 1) * plane), k * padded);
      for (let p0 = 0; p0 < plane; p0 += chunk) {
        const n = Math.min(chunk, plane - p0);
        fn(p0 * 4, outBase * 4, padded * 4, paddedBytes(n));
        out.set(heap.subarray(outBase, outBase + 3 * n), 3 * p0);
      }
      return out;
    },
  };
}
