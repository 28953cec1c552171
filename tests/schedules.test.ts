import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  flowDpmSchedule, flowEulerSchedule, makeSchedule,
  schedulerStep, SCHEDULERS, type SchedulerName,
} from '../nodes/schedules.ts';

// Produced by tools/torch-reference/make_scheduler_reference.py from diffusers' own scheduler code.
interface Fixture {
  initialLatent: number[];
  schedules: { scheduler: SchedulerName; steps: number; shift: number; sigmas: number[]; timesteps: number[] }[];
  trajectories: {
    scheduler: SchedulerName; steps: number; shift: number;
    latents: number[][]; x0?: number[][]; order?: number[];
  }[];
}
const fixture: Fixture = JSON.parse(readFileSync(new URL('./fixtures/schedulers.json', import.meta.url), 'utf8'));

const f32 = Math.fround;

/** The fixture's synthetic model, in float32 like torch: v = 0.5·x + 0.1·(t/1000). */
function syntheticVelocity(x: Float32Array, t: number): Float32Array {
  const bias = f32(0.1 * f32(f32(t) / 1000));
  return x.map((xi) => f32(0.5 * xi) + bias);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string, relative = false) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const scale = relative ? Math.max(1, Math.abs(expected[i])) : 1;
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= tol * scale, `${what}[${i}]: got ${actual[i]}, diffusers ${expected[i]} (diff ${diff})`);
  }
}

/** Run a whole sampling loop the way SanaPipeline does, one pure step at a time. */
function sample(name: SchedulerName, steps: number, shift: number) {
  const { sigmas, timesteps } = makeSchedule(name, steps, shift);
  let x: Float32Array = Float32Array.from(fixture.initialLatent);
  let prevX0: Float32Array | null = null;
  const latents: Float32Array[] = [];
  const x0s: Float32Array[] = [];
  const orders: number[] = [];
  for (let i = 0; i < steps; i++) {
    const v = syntheticVelocity(x, timesteps[i]);
    if (name === 'flow_dpmpp_2m') {
      const r = schedulerStep('flow_dpmpp_2m', x, v, prevX0, i, sigmas);
      x0s.push(r.x0);
      orders.push(r.order);
      prevX0 = r.x0;
      x = r.prev;
    } else {
      x = schedulerStep('flow_euler', x, v, null, i, sigmas).prev;
    }
    latents.push(x);
  }
  return { latents, x0s, orders };
}

describe('schedules match diffusers', () => {
  for (const ref of fixture.schedules) {
    it(`${ref.scheduler} steps=${ref.steps} shift=${ref.shift}: sigmas and model timesteps`, () => {
      const got = makeSchedule(ref.scheduler, ref.steps, ref.shift);
      assertClose(got.sigmas, ref.sigmas, 1e-6, 'sigmas');
      assertClose(got.timesteps, ref.timesteps, 1e-6, 'timesteps', true);
    });
  }

  it('schedules are bit-identical to diffusers (plain IEEE float64/float32 arithmetic, no transcendental functions)', () => {
    for (const ref of fixture.schedules) {
      assert.deepEqual(makeSchedule(ref.scheduler, ref.steps, ref.shift), { sigmas: ref.sigmas, timesteps: ref.timesteps });
    }
  });

  it('the fixture covers both schedulers at every step count the brief names', () => {
    for (const name of SCHEDULERS) {
      const steps = fixture.schedules.filter((s) => s.scheduler === name && s.shift === 3).map((s) => s.steps);
      assert.deepEqual(steps, [1, 2, 3, 5, 10, 20, 28, 50]);
    }
  });

  it('DPM timesteps are integers truncated from σ·1000, Euler timesteps are float32 σ·1000', () => {
    const dpm = flowDpmSchedule(20, 3);
    for (let i = 0; i < 20; i++) {
      assert.ok(Number.isInteger(dpm.timesteps[i]));
      assert.ok(dpm.sigmas[i] * 1000 - dpm.timesteps[i] < 1 && dpm.sigmas[i] * 1000 >= dpm.timesteps[i] - 1e-3);
    }
    assert.equal(dpm.timesteps[0], 999); // σ_0 = shift(0.999) = 0.99967 for every step count
    const euler = flowEulerSchedule(20, 3);
    assert.equal(euler.timesteps[0], 1000);
    assert.ok(euler.timesteps.some((t) => !Number.isInteger(t)));
  });

  it('the Euler schedule is shifted twice (construction and set_timesteps), as in diffusers', () => {
    const { sigmas } = flowEulerSchedule(2, 3);
    const shift = (s: number) => (3 * s) / (1 + 2 * s);
    assert.ok(Math.abs(sigmas[1] - shift(shift(0.001))) < 1e-7, `got ${sigmas[1]}`);
  });
});

describe('sampling trajectories match diffusers', () => {
  for (const ref of fixture.trajectories) {
    it(`${ref.scheduler} steps=${ref.steps} shift=${ref.shift}`, () => {
      const got = sample(ref.scheduler, ref.steps, ref.shift);
      assert.equal(got.latents.length, ref.latents.length);
      ref.latents.forEach((expected, i) => assertClose(got.latents[i], expected, 1e-5, `latent after step ${i}`));
      if (ref.scheduler === 'flow_dpmpp_2m') {
        assert.deepEqual(got.orders, ref.order);
        ref.x0!.forEach((expected, i) => assertClose(got.x0s[i], expected, 1e-5, `x0 at step ${i}`));
      }
    });
  }
});

describe('DPM-Solver++(2M) step APIs', () => {
  it('first and last steps are first order, the rest second order', () => {
    for (const steps of [1, 2, 3, 14, 15, 28]) {
      const { orders } = sample('flow_dpmpp_2m', steps, 3);
      const expected = Array.from({ length: steps }, (_, i) => (i === 0 || i === steps - 1 ? 1 : 2));
      assert.deepEqual(orders, expected, `steps=${steps}`);
    }
  });

  it('the last step lands exactly on the x0 prediction (final sigma 0)', () => {
    const { sigmas } = flowDpmSchedule(5, 3);
    const x = Float32Array.from(fixture.initialLatent);
    const v = syntheticVelocity(x, 100);
    const r = schedulerStep('flow_dpmpp_2m', x, v, Float32Array.from(x), 4, sigmas);
    assert.deepEqual(r.prev, r.x0);
  });

  it('steps are pure: inputs are not modified and repeated calls agree', () => {
    const { sigmas } = flowDpmSchedule(5, 3);
    const x = Float32Array.from(fixture.initialLatent);
    const v = syntheticVelocity(x, 500);
    const prev = Float32Array.from(x, (xi) => xi * 0.25);
    const copies = [x, v, prev].map((a) => Float32Array.from(a));
    const a = schedulerStep('flow_dpmpp_2m', x, v, prev, 2, sigmas);
    const b = schedulerStep('flow_dpmpp_2m', x, v, prev, 2, sigmas);
    assert.deepEqual(a, b);
    assert.deepEqual([x, v, prev], copies);
    const e = schedulerStep('flow_euler', x, v, null, 2, sigmas);
    assert.deepEqual([x, v], copies.slice(0, 2));
    assert.deepEqual(e.x0, schedulerStep('flow_dpmpp_2m', x, v, null, 2, sigmas).x0, 'Euler also reports the x0 prediction');
  });

  it('the second-order update differs from the first-order one (the history is used)', () => {
    const { sigmas } = flowDpmSchedule(5, 3);
    const x = Float32Array.from(fixture.initialLatent);
    const v = syntheticVelocity(x, 500);
    const withHistory = schedulerStep('flow_dpmpp_2m', x, v, Float32Array.from(x, (xi) => xi * 0.25), 2, sigmas);
    const without = schedulerStep('flow_dpmpp_2m', x, v, null, 2, sigmas);
    assert.equal(withHistory.order, 2);
    assert.equal(without.order, 1);
    assert.notDeepEqual(withHistory.prev, without.prev);
  });
});

describe('schedule sanity', () => {
  for (const name of SCHEDULERS) {
    it(`${name}: steps+1 strictly decreasing sigmas in (0, 1], last 0; one timestep per step`, () => {
      for (const steps of [1, 2, 7, 50, 200]) {
        for (const shift of [1, 3, 6]) {
          const { sigmas, timesteps } = makeSchedule(name, steps, shift);
          assert.equal(sigmas.length, steps + 1);
          assert.equal(timesteps.length, steps);
          assert.equal(sigmas[steps], 0);
          assert.ok(sigmas[0] <= 1 && sigmas[0] > 0.99);
          for (let i = 0; i < steps; i++) assert.ok(sigmas[i] > sigmas[i + 1], `${name} ${steps} ${shift} at ${i}`);
          for (let i = 1; i < steps; i++) assert.ok(timesteps[i] <= timesteps[i - 1]);
        }
      }
    });

    it(`${name}: a single step goes straight from noise to the x0 prediction`, () => {
      const { sigmas } = makeSchedule(name, 1, 3);
      const x = Float32Array.from(fixture.initialLatent);
      const v = syntheticVelocity(x, 999);
      const { prev } = schedulerStep(name, x, v, null, 0, sigmas);
      const x0 = x.map((xi, i) => xi - f32(f32(sigmas[0]) * v[i]));
      assertClose(prev, x0, 1e-6, 'one-step result');
    });

    it(`${name}: invalid arguments throw clear errors`, () => {
      for (const steps of [0, -1, 2.5, Number.NaN]) {
        assert.throws(() => makeSchedule(name, steps, 3), /steps must be an integer >= 1/);
      }
      assert.throws(() => makeSchedule(name, 5, 0), /shift must be a finite number > 0/);
      assert.throws(() => makeSchedule(name, 5, Number.POSITIVE_INFINITY), /shift/);
      const { sigmas } = makeSchedule(name, 5, 3);
      const x = new Float32Array(4);
      assert.throws(() => schedulerStep(name, x, x, null, 5, sigmas), /stepIndex must be an integer in \[0, 4\]/);
      assert.throws(() => schedulerStep(name, x, new Float32Array(3), null, 0, sigmas), /does not match sample length/);
    });
  }

  it('unknown scheduler names are rejected', () => {
    assert.throws(() => makeSchedule('ddim' as SchedulerName, 5, 3), /unknown scheduler 'ddim'/);
  });
});
