import { choice, defineNode, float, InputError, int, optional, socket, type Float32Tensor } from '../engine/index.ts';
import { float32, sameDims, shapeText } from '../engine/tensor.ts';
import { sampleOnDevice } from './device-sampler.ts';
import { checkConditioning, checkLatent } from './dit-step.ts';
import { makeSchedule, SCHEDULERS, schedulerStep, type Schedule, type SchedulerName } from './schedules.ts';
import { concatBatch, repeatConditioning, splitBatch } from './tensor-ops.ts';
import { CONDITIONING, LATENT, SANA_MODEL, type Conditioning } from './types.ts';

/**
 * The sampler and the per-step nodes it expands into.
 *
 * Sampler(model, positive, negative, latent, steps, guidance_scale, scheduler, flow_shift) becomes,
 * at run time, a sub-graph with one DiTStep + Guidance + SolverStep per step (as
 * diffusers' SanaPipeline.__call__ loop): the negative and positive conditionings are stacked
 * once (ConcatConditioning), each DiTStep evaluates both as one batch of 2B, and the solver
 * update follows the scheduler. With guidance_scale ≤ 1 the unconditional pass is skipped.
 * The expansion is transient (SubgraphOptions.transient): once the Sampler has its result the steps
 * leave the cache and their arrays serve the next run; a failed or interrupted run keeps its
 * finished steps, so it resumes.
 *
 * A transformer whose outputs stay on the device (webgpu, sessions in the engine's thread) runs
 * the same steps as one loop there instead (device-sampler.ts): no copies per step.
 */

const schedulerInput = () => choice(SCHEDULERS, { default: 'flow_dpmpp_2m' });

/** Every SolverStep of a run asks for the same schedule: compute it once (a small, bounded memo). */
const schedules = new Map<string, Schedule>();
function scheduleFor(name: SchedulerName, steps: number, shift: number): Schedule {
  const key = `${name}:${steps}:${shift}`;
  let schedule = schedules.get(key);
  if (!schedule) {
    schedule = makeSchedule(name, steps, shift);
    if (schedules.size >= 64) schedules.delete(schedules.keys().next().value!);
    schedules.set(key, schedule);
  }
  return schedule;
}

export const SolverStep = defineNode({
  type: 'SolverStep',
  displayName: 'Solver step',
  category: 'sana/sampling',
  description: 'One scheduler update x_t → x_{t-1} from the velocity (flow_euler, or DPM-Solver++ 2M with the previous step\'s x0).',
  inputs: {
    latent: socket(LATENT),
    velocity: socket(LATENT),
    prev_x0: optional(socket(LATENT)),
    scheduler: schedulerInput(),
    step: int({ default: 0, min: 0, max: 9999 }),
    steps: int({ default: 20, min: 1, max: 10000 }),
    flow_shift: float({ default: 3.0, min: 0.01, max: 100, step: 0.1 }),
  },
  outputs: [{ name: 'latent', type: LATENT }, { name: 'x0', type: LATENT }],
  run: ({ latent, velocity, prev_x0, scheduler, step, steps, flow_shift }) => {
    if (step >= steps) throw new InputError('step', `is ${step} but a ${steps}-step schedule has steps 0..${steps - 1}`);
    if (!sameDims(latent.dims, velocity.dims)) {
      throw new InputError('velocity', `has shape ${shapeText(velocity.dims)} but the latent has ${shapeText(latent.dims)}`);
    }
    const { sigmas } = scheduleFor(scheduler as SchedulerName, steps, flow_shift);
    const { prev, x0 } = schedulerStep(scheduler as SchedulerName, latent.data, velocity.data, prev_x0?.data, step, sigmas);
    return [float32(latent.dims, prev), float32(latent.dims, x0)];
  },
});

export const ConcatConditioning = defineNode({
  type: 'ConcatConditioning',
  category: 'sana/conditioning',
  description: 'Stacks two conditionings along the batch (first, then second), e.g. negative and positive for one 2B pass.',
  inputs: { first: socket(CONDITIONING), second: socket(CONDITIONING) },
  outputs: [{ name: 'conditioning', type: CONDITIONING }],
  run: ({ first, second }) => {
    if (!sameDims(first.embeds.dims.slice(1), second.embeds.dims.slice(1))) {
      throw new InputError('second', `embeddings ${shapeText(second.embeds.dims)} do not match the first ${shapeText(first.embeds.dims)} (same token count and width needed)`);
    }
    const out: Conditioning = { embeds: concatBatch([first.embeds, second.embeds]), mask: concatBatch([first.mask, second.mask]) };
    return [out];
  },
});

/**
 * How often each prompt of a conditioning is repeated for a latent batch: once per latent when the
 * batches match, `latent batch / prompts` when it is a multiple (diffusers' num_images_per_prompt).
 */
export function conditioningRepeat(cond: Conditioning, latentBatch: number, input: string): number {
  const prompts = cond.embeds.dims[0];
  if (latentBatch % prompts !== 0) {
    throw new InputError(input, `has ${prompts} prompts but the latent batch is ${latentBatch}: it must be a multiple (each prompt gets latent batch / prompts images)`);
  }
  return latentBatch / prompts;
}

export const RepeatConditioning = defineNode({
  type: 'RepeatConditioning',
  category: 'sana/conditioning',
  description: 'Repeats each prompt of a conditioning `times` times along the batch (several images per prompt).',
  inputs: { conditioning: socket(CONDITIONING), times: int({ default: 1, min: 1, max: 256 }) },
  outputs: [{ name: 'conditioning', type: CONDITIONING }],
  run: ({ conditioning, times }) => [repeatConditioning(conditioning, times)],
});

export const SplitBatch = defineNode({
  type: 'SplitBatch',
  category: 'sana/latent',
  description: 'Splits a latent batch into its first and second halves (as torch.chunk(2)).',
  inputs: { latent: socket(LATENT) },
  outputs: [{ name: 'first', type: LATENT }, { name: 'second', type: LATENT }],
  run: ({ latent }) => {
    try {
      const [a, b] = splitBatch(latent, 2);
      return [a, b] as [Float32Tensor, Float32Tensor];
    } catch (e) {
      throw new InputError('latent', (e as Error).message);
    }
  },
});

export const Sampler = defineNode({
  type: 'Sampler',
  category: 'sana/sampling',
  description: 'Denoises a latent with the Sana transformer, classifier-free guidance and a flow-matching scheduler.',
  inputs: {
    model: socket(SANA_MODEL),
    positive: socket(CONDITIONING),
    negative: optional(socket(CONDITIONING)),
    latent: socket(LATENT),
    steps: int({ default: 20, min: 1, max: 1000 }),
    guidance_scale: float({ default: 4.5, min: 0, max: 100, step: 0.1 }),
    scheduler: schedulerInput(),
    flow_shift: float({ default: 3.0, min: 0.01, max: 100, step: 0.1 }),
  },
  outputs: [{ name: 'latent', type: LATENT }],
  run: ({ model, positive, negative, latent, steps, guidance_scale, scheduler, flow_shift }, ctx) => {
    checkLatent(model, latent);
    checkConditioning(model, positive, 'positive');
    const guided = guidance_scale > 1;
    if (guided && !negative) {
      throw new InputError('negative', `guidance_scale ${guidance_scale} > 1 needs a negative conditioning (diffusers encodes "" without the instruction)`);
    }
    if (guided) checkConditioning(model, negative!, 'negative');
    // Each prompt is repeated for its share of the latent batch, as diffusers repeats prompt_embeds
    // num_images_per_prompt times (without it, a batch of 2 latents would be paired with the
    // negative and the positive prompt instead of getting both).
    const repeat = { positive: conditioningRepeat(positive, latent.dims[0], 'positive'), negative: guided ? conditioningRepeat(negative!, latent.dims[0], 'negative') : 1 };
    const schedule = scheduleFor(scheduler as SchedulerName, steps, flow_shift);
    const runner = model.model.resident;
    if (runner) {
      return sampleOnDevice({
        model, runner, positive, negative: guided ? negative : undefined, repeat, latent, schedule,
        scheduler: scheduler as SchedulerName, guidanceScale: guidance_scale, ctx,
      }).then((x): [Float32Tensor] => [x]);
    }
    const { timesteps } = schedule;

    // Transient: once the Sampler has its result, the steps' arrays serve the next run's steps.
    const g = ctx.subgraph({ transient: true });
    const repeated = (name: 'positive' | 'negative') =>
      (repeat[name] === 1 ? g.input(name) : g.add('RepeatConditioning', { conditioning: g.input(name), times: repeat[name] }).out(0));
    const cond = guided ? g.add('ConcatConditioning', { first: repeated('negative'), second: repeated('positive') }).out(0) : repeated('positive');
    let x = g.input('latent');
    let x0: unknown;
    timesteps.forEach((timestep, step) => {
      let v = g.add('DiTStep', { model: g.input('model'), latent: x, conditioning: cond, timestep }).out(0);
      // The 2B velocity is [uncond; cond]: Guidance splits it itself.
      if (guided) v = g.add('Guidance', { velocity_cond: v, scale: guidance_scale }).out(0);
      const update = g.add('SolverStep', { latent: x, velocity: v, prev_x0: x0, scheduler, step, steps, flow_shift }, { progress: true });
      x = update.out(0);
      x0 = update.out(1);
    });
    return g.result([x]);
  },
});

export default [Sampler, SolverStep, ConcatConditioning, RepeatConditioning, SplitBatch];
