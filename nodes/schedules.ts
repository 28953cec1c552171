// Flow-matching noise schedules and solver steps for Sana, as pure functions.
//
// Two schedulers, each a port of the diffusers class that SanaPipeline uses, numerically identical to it:
//   flow_euler     FlowMatchEulerDiscreteScheduler(shift)            (scheduling_flow_match_euler_discrete.py)
//   flow_dpmpp_2m  DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction",
//                  flow_shift, solver_order=2, algorithm_type="dpmsolver++", solver_type="midpoint",
//                  lower_order_final=True, final_sigmas_type="zero")  (scheduling_dpmsolver_multistep.py)
//
// Nothing here holds a step counter: a schedule is a function of (steps, shift), and a step is a function of
// (sample, velocity, previous x0 prediction, step index, sigmas). That lets the sampler become one graph node per
// step, and lets any step be recomputed alone.
//
// Precision. diffusers mixes float64 numpy and float32 torch; we mirror it where the difference is visible:
//   * schedule arithmetic done in numpy float64 is done here in plain JS doubles, in numpy's order of operations
//     (including np.linspace's `i*step + start` formula and its exact last element);
//   * values diffusers holds as float32 tensors go through Math.fround (`f32`) after every tensor operation;
//   * solver steps are float32 tensor arithmetic in diffusers: every scalar coefficient and every elementwise
//     product/sum is rounded to float32 here, in the same order.
// The Euler construction-time shift is float32 (torch), the set_timesteps shift is float64 (numpy) — see below.

import { add, elementwise, mul, sub, type ElementwiseKernel, type Expr } from '../engine/elementwise.ts';

const f32 = Math.fround;

export const SCHEDULERS = ['flow_euler', 'flow_dpmpp_2m'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

/** sigmas: steps+1 float32 values, descending, last one 0. timesteps: `steps` values, exactly what the model gets. */
export interface Schedule {
  sigmas: number[];
  timesteps: number[];
}

function checkScheduleArgs(steps: number, shift: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new RangeError(`steps must be an integer >= 1, got ${steps}`);
  }
  if (!Number.isFinite(shift) || shift <= 0) {
    throw new RangeError(`shift must be a finite number > 0, got ${shift}`);
  }
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 2) {
    throw new RangeError(`numTrainTimesteps must be an integer >= 2, got ${numTrainTimesteps}`);
  }
}

/** np.linspace(start, stop, num) in float64: y[i] = i*step + start with step = (stop-start)/(num-1); y[num-1] = stop. */
function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const y = Array.from({ length: num }, (_, i) => i * step + start);
  y[num - 1] = stop;
  return y;
}

/** Flow shift in float64 (numpy): σ' = shift·σ / (1 + (shift−1)·σ), evaluated as (shift·σ) / (1 + (shift−1)·σ). */
function shiftF64(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/** The same shift on a float32 torch tensor: Python-float scalars become float32, each op rounds to float32. */
function shiftF32(sigma: number, shift: number): number {
  const num = f32(f32(shift) * sigma);
  const den = f32(1 + f32(f32(shift - 1) * sigma));
  return f32(num / den);
}

/**
 * FlowMatchEulerDiscreteScheduler(num_train_timesteps=N, shift) then set_timesteps(steps)
 * (scheduling_flow_match_euler_discrete.py: __init__ and set_timesteps, use_dynamic_shifting=False, no
 * karras/exponential/beta sigmas, no shift_terminal, invert_sigmas=False). The shift is applied TWICE:
 *   __init__ (float32 torch):  σ_train(k) = shift(k/N), k = N..1, so σ_max = shift(1) = 1, σ_min = shift(1/N)
 *   set_timesteps (float64):   t_i = linspace(σ_max·N, σ_min·N, steps)_i,  σ_i = shift(t_i / N)
 *   then σ_i → float32, timestep_i = f32(σ_i · N)  (float, not rounded to an integer), sigmas += [0].
 */
export function flowEulerSchedule(steps: number, shift: number, numTrainTimesteps = 1000): Schedule {
  checkScheduleArgs(steps, shift, numTrainTimesteps);
  const n = numTrainTimesteps;
  const sigmaMax = shiftF32(f32(n / n), shift);
  const sigmaMin = shiftF32(f32(1 / n), shift);
  const ts = linspace(sigmaMax * n, sigmaMin * n, steps);
  const sigmas = ts.map((t) => f32(shiftF64(t / n, shift)));
  const timesteps = sigmas.map((s) => f32(s * n));
  return { sigmas: [...sigmas, 0], timesteps };
}

/**
 * DPMSolverMultistepScheduler(use_flow_sigmas=True, flow_shift, final_sigmas_type="zero").set_timesteps(steps)
 * (scheduling_dpmsolver_multistep.py: set_timesteps, the `use_flow_sigmas` branch), all float64 numpy:
 *   α = linspace(1, 1/N, steps+1),  σ = 1 − α,  σ = flip(shift(σ))[:-1]   (drops the shift(0) = 0 entry)
 *   timestep_i = trunc(σ_i · N)  — the float64 product cast to int64, i.e. truncated toward zero, not rounded
 *   sigmas = float32([...σ, 0])
 * The pipeline then feeds the model the integer timestep as a float32 (`t * timestep_scale`).
 */
export function flowDpmSchedule(steps: number, flowShift: number, numTrainTimesteps = 1000): Schedule {
  checkScheduleArgs(steps, flowShift, numTrainTimesteps);
  const n = numTrainTimesteps;
  const alphas = linspace(1, 1 / n, steps + 1);
  const shifted = alphas.map((a) => shiftF64(1.0 - a, flowShift)).reverse().slice(0, steps);
  return {
    sigmas: [...shifted.map(f32), 0],
    timesteps: shifted.map((s) => Math.trunc(s * n)),
  };
}

/** The schedule of a named scheduler. */
export function makeSchedule(name: SchedulerName, steps: number, shift: number, numTrainTimesteps = 1000): Schedule {
  if (name === 'flow_euler') return flowEulerSchedule(steps, shift, numTrainTimesteps);
  if (name === 'flow_dpmpp_2m') return flowDpmSchedule(steps, shift, numTrainTimesteps);
  throw new RangeError(`unknown scheduler '${String(name)}'; expected one of ${SCHEDULERS.join(', ')}`);
}

function checkSameLength(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: length ${b.length} does not match sample length ${a.length}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Euler

// The element-wise parts run as WebAssembly SIMD kernels (engine/elementwise.ts): one float32 operation per
// step of each formula, in the order written, exactly as the scalar float32 arithmetic of diffusers/torch.

/**
 * The data (x0) prediction from a flow velocity (convert_model_output, dpmsolver++ / flow_prediction):
 *   x0 = x − σ · v
 */
const x0Of = (x: Expr, v: Expr, sigma: Expr): Expr => sub(x, mul(sigma, v));

/** x_next = x + dt · v, and the x0 prediction x − σ · v (reported for previews and for switching solvers). */
const eulerKernel = elementwise({ name: 'eulerStep', inputs: ['x', 'v'], scalars: ['dt', 'sigma'] },
  ({ x, v, dt, sigma }) => [add(x, mul(dt, v)), x0Of(x, v, sigma)]);

/*
 * One flow Euler step (FlowMatchEulerDiscreteScheduler.step, stochastic_sampling=False), float32:
 *   dt = σ_next − σ;   x_next = x + dt · v      (scalars dt, σ: solverUpdate)
 */

// ---------------------------------------------------------------------------------------------------------------
// DPM-Solver++(2M), flow sigmas. With flow sigmas, _sigma_to_alpha_sigma_t gives α_t = 1 − σ, σ_t = σ, and
// λ = log α_t − log σ_t (all float32). At σ = 0 (the final sigma) λ = +∞, so exp(−h) = 0 and the step returns x0.

/** λ(σ) = log(1 − σ) − log(σ) in float32 (_sigma_to_alpha_sigma_t + the λ lines of the update functions). */
function lambda(sigma: number): number {
  return f32(f32(Math.log(f32(1 - sigma))) - f32(Math.log(sigma)));
}


/**
 * Which update step `stepIndex` of `steps` uses (DPMSolverMultistepScheduler.step, solver_order=2):
 * first order when there is no previous x0 (diffusers: lower_order_nums < 1, i.e. the first step) or on the last
 * step (lower_order_final: index == steps−1 and (euler_at_final or (lower_order_final and steps < 15) or
 * final_sigmas_type == "zero") — with "zero" that holds for every step count); second order otherwise.
 * (`lower_order_second` only matters for solver_order 3.)
 */
function dpmSolverOrder(stepIndex: number, steps: number, hasPrevX0: boolean): 1 | 2 {
  return !hasPrevX0 || stepIndex === steps - 1 ? 1 : 2;
}

/**
 * First-order update, s → t (dpm_solver_first_order_update, dpmsolver++), float32:
 *   h = λ_t − λ_s;   x_t = (σ_t/σ_s) · x − (α_t · (e^{−h} − 1)) · x0
 * fused with the x0 prediction: outputs [x0, x_t].
 */
const dpmFirstOrderKernel = elementwise({ name: 'dpmFirstOrderUpdate', inputs: ['x', 'v'], scalars: ['sigma', 'a', 'b'] },
  ({ x, v, sigma, a, b }) => {
    const x0 = x0Of(x, v, sigma);
    return [x0, sub(mul(a, x), mul(b, x0))];
  });

function dpmFirstOrderCoefficients(sigmaS: number, sigmaT: number): { a: number; b: number } {
  const [sS, sT] = [f32(sigmaS), f32(sigmaT)];
  const h = f32(lambda(sT) - lambda(sS));
  return { a: f32(sT / sS), b: f32(f32(1 - sT) * f32(f32(Math.exp(-h)) - 1)) };
}

/**
 * Second-order multistep update, midpoint variant (multistep_dpm_solver_second_order_update, dpmsolver++),
 * from s0 (current) to t, with s1 the previous sigma and m1 = x0 of the previous step, float32:
 *   h = λ_t − λ_s0;  h0 = λ_s0 − λ_s1;  r0 = h0/h;  D0 = m0;  D1 = (1/r0) · (m0 − m1)
 *   x_t = (σ_t/σ_s0) · x − (α_t · (e^{−h} − 1)) · D0 − 0.5 · (α_t · (e^{−h} − 1)) · D1
 * fused with the x0 prediction m0: outputs [m0, x_t].
 */
const dpmSecondOrderKernel = elementwise(
  { name: 'dpmSecondOrderUpdate', inputs: ['x', 'v', 'm1'], scalars: ['sigma', 'a', 'b', 'invR0', 'halfB'] },
  ({ x, v, m1, sigma, a, b, invR0, halfB }) => {
    const m0 = x0Of(x, v, sigma);
    const d1 = mul(invR0, sub(m0, m1));
    return [m0, sub(sub(mul(a, x), mul(b, m0)), mul(halfB, d1))];
  },
);

function dpmSecondOrderCoefficients(sigmaS1: number, sigmaS0: number, sigmaT: number) {
  const [sS1, sS0, sT] = [f32(sigmaS1), f32(sigmaS0), f32(sigmaT)];
  const lS0 = lambda(sS0);
  const h = f32(lambda(sT) - lS0);
  const r0 = f32(f32(lS0 - lambda(sS1)) / h);
  const b = f32(f32(1 - sT) * f32(f32(Math.exp(-h)) - 1));
  return { a: f32(sT / sS0), b, invR0: f32(1 / r0), halfB: f32(0.5 * b) };
}

export interface DpmStepResult {
  /** The sample at sigmas[stepIndex + 1]. */
  prev: Float32Array;
  /** This step's x0 prediction: the `prevX0` input of step stepIndex + 1. */
  x0: Float32Array;
  /** The update that ran. */
  order: 1 | 2;
}

function checkStepIndex(stepIndex: number, sigmas: readonly number[]): number {
  const steps = sigmas.length - 1;
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new RangeError(`stepIndex must be an integer in [0, ${steps - 1}], got ${stepIndex}`);
  }
  return steps;
}

/**
 * What one scheduler step computes, apart from the arrays: the kernel (inputs x, v and, for
 * DPM-Solver++'s second order, m1 = the previous x0), its scalars for this step, and which of its
 * outputs are the next sample and the x0 prediction. The host runs the kernel in WebAssembly
 * (schedulerStep); a device loop runs the same expressions as an ONNX graph (device-sampler.ts).
 */
export interface SolverUpdate {
  readonly kernel: ElementwiseKernel;
  readonly scalars: readonly number[];
  readonly prev: number;
  readonly x0: number;
  /** The kernel reads the previous step's x0 (input m1). */
  readonly usesPrevX0: boolean;
  /** DPM-Solver++'s order (Euler: 1). */
  readonly order: 1 | 2;
}

export function solverUpdate(name: SchedulerName, stepIndex: number, sigmas: readonly number[], hasPrevX0: boolean): SolverUpdate {
  const steps = checkStepIndex(stepIndex, sigmas);
  const sigma = sigmas[stepIndex];
  if (name === 'flow_euler') {
    return { kernel: eulerKernel, scalars: [f32(f32(sigmas[stepIndex + 1]) - f32(sigma)), sigma], prev: 0, x0: 1, usesPrevX0: false, order: 1 };
  }
  if (name !== 'flow_dpmpp_2m') throw new RangeError(`unknown scheduler '${String(name)}'; expected one of ${SCHEDULERS.join(', ')}`);
  if (dpmSolverOrder(stepIndex, steps, hasPrevX0 && stepIndex > 0) === 1) {
    const { a, b } = dpmFirstOrderCoefficients(sigma, sigmas[stepIndex + 1]);
    return { kernel: dpmFirstOrderKernel, scalars: [sigma, a, b], prev: 1, x0: 0, usesPrevX0: false, order: 1 };
  }
  const { a, b, invR0, halfB } = dpmSecondOrderCoefficients(sigmas[stepIndex - 1], sigma, sigmas[stepIndex + 1]);
  return { kernel: dpmSecondOrderKernel, scalars: [sigma, a, b, invR0, halfB], prev: 1, x0: 0, usesPrevX0: true, order: 2 };
}

/**
 * One step of either scheduler: the next sample, and this step's x0 prediction (x − σ·v), which
 * DPM-Solver++ needs as `prevX0` at the next step and Euler ignores.
 */
export function schedulerStep(
  name: SchedulerName,
  sample: Float32Array,
  velocity: Float32Array,
  prevX0: Float32Array | null | undefined,
  stepIndex: number,
  sigmas: readonly number[],
): DpmStepResult {
  const update = solverUpdate(name, stepIndex, sigmas, prevX0 != null);
  checkSameLength(sample, velocity, `${update.kernel.name} velocity`);
  if (update.usesPrevX0) checkSameLength(sample, prevX0!, `${update.kernel.name} prevX0`);
  const outputs = update.kernel.run(update.usesPrevX0 ? [sample, velocity, prevX0!] : [sample, velocity], update.scalars);
  return { prev: outputs[update.prev], x0: outputs[update.x0], order: update.order };
}
