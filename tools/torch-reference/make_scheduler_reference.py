#!/usr/bin/env python3
"""Write tests/fixtures/schedulers.json by running diffusers' own scheduler code.

Usage (Debian's torch 1.13 lives in /usr/bin/python3's dist-packages):

    /usr/bin/python3 tools/torch-reference/make_scheduler_reference.py /path/to/diffusers/src \
        [--revision <diffusers commit>] [--out tests/fixtures/schedulers.json]

`/path/to/diffusers/src` is a checkout's `src` folder (the one holding `diffusers/schedulers/`). diffusers is not
installed: only its two flow-matching scheduler modules are loaded, with small stand-ins for the package pieces
they import (config registration, logging, output dataclasses). No diffusers code lives in this file.

The fixture holds, for FlowMatchEulerDiscreteScheduler(shift) and
DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift, solver_order=2,
algorithm_type="dpmsolver++", lower_order_final=True) -- Sana's two schedulers:
  * sigmas (float32 values as float) and the timesteps the pipeline feeds the model, per (steps, shift);
  * sampling trajectories driven by a synthetic velocity model (see `synthetic_velocity`), computed the way
    SanaPipeline's denoising loop calls `scheduler.step`.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import json
import os
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

NUM_TRAIN_TIMESTEPS = 1000
SCHEDULE_CASES = [(n, 3.0) for n in (1, 2, 3, 5, 10, 20, 28, 50)] + [
    (n, s) for s in (1.0, 6.0) for n in (5, 20)
] + [(7, 2.5), (30, 4.0)]
TRAJECTORY_CASES = [(1, 3.0), (2, 3.0), (5, 3.0), (20, 3.0), (20, 6.0)]
LATENT_SHAPE = (1, 4, 2, 2)


# --------------------------------------------------------------------------------------------------------------------
# Stand-ins for the parts of the diffusers package the scheduler modules import.


def _install_stubs(src_dir: str) -> None:
    sched_dir = os.path.join(src_dir, "diffusers", "schedulers")
    if not os.path.isfile(os.path.join(sched_dir, "scheduling_dpmsolver_multistep.py")):
        sys.exit(f"not a diffusers src folder (no diffusers/schedulers/ inside): {src_dir}")

    def package(name: str, path: list[str]) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__path__ = path
        sys.modules[name] = mod
        return mod

    def module(name: str) -> types.ModuleType:
        mod = types.ModuleType(name)
        sys.modules[name] = mod
        return mod

    package("diffusers", [])
    package("diffusers.schedulers", [sched_dir])  # real scheduler files are found here

    # configuration_utils: register_to_config records every __init__ argument (defaults included) on self.config.
    cfg = module("diffusers.configuration_utils")

    class ConfigMixin:
        def register_to_config(self, **kwargs):
            for key, value in kwargs.items():
                setattr(self.config, key, value)

    def register_to_config(init):
        signature = inspect.signature(init)

        def wrapped(self, *args, **kwargs):
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            values.pop("self")
            self.config = types.SimpleNamespace(**values)
            init(self, *args, **kwargs)

        return wrapped

    cfg.ConfigMixin = ConfigMixin
    cfg.register_to_config = register_to_config

    utils = package("diffusers.utils", [])

    class BaseOutput(OrderedDict):
        def __post_init__(self):
            for field in dataclasses.fields(self):
                self[field.name] = getattr(self, field.name)

    class _Logger:
        def __getattr__(self, _name):
            return lambda *a, **k: None

    utils.BaseOutput = BaseOutput
    utils.is_scipy_available = lambda: False
    utils.logging = types.SimpleNamespace(get_logger=lambda *_: _Logger())
    utils.deprecate = lambda *a, **k: None

    torch_utils = module("diffusers.utils.torch_utils")

    def randn_tensor(shape, generator=None, device=None, dtype=None, **_):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    torch_utils.randn_tensor = randn_tensor

    sched_utils = module("diffusers.schedulers.scheduling_utils")

    class SchedulerMixin:
        pass

    @dataclasses.dataclass
    class SchedulerOutput(BaseOutput):
        prev_sample: torch.Tensor

    sched_utils.SchedulerMixin = SchedulerMixin
    sched_utils.SchedulerOutput = SchedulerOutput
    sched_utils.KarrasDiffusionSchedulers = enum.Enum(
        "KarrasDiffusionSchedulers", ["DPMSolverMultistepScheduler"]
    )


def _load_schedulers(src_dir: str):
    _install_stubs(src_dir)
    euler = importlib.import_module("diffusers.schedulers.scheduling_flow_match_euler_discrete")
    dpm = importlib.import_module("diffusers.schedulers.scheduling_dpmsolver_multistep")
    return euler.FlowMatchEulerDiscreteScheduler, dpm.DPMSolverMultistepScheduler


# --------------------------------------------------------------------------------------------------------------------
# Scheduler construction as Sana configures it.


def make_scheduler(kind: str, shift: float, classes):
    euler_cls, dpm_cls = classes
    if kind == "flow_euler":
        return euler_cls(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift)
    return dpm_cls(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS,
        use_flow_sigmas=True,
        prediction_type="flow_prediction",
        flow_shift=shift,
        solver_order=2,
        algorithm_type="dpmsolver++",
        solver_type="midpoint",
        lower_order_final=True,
        final_sigmas_type="zero",
    )


def model_timesteps(scheduler) -> list[float]:
    # SanaPipeline: timestep = t.expand(batch) * transformer.config.timestep_scale (1.0 for Sana). An int64 timestep
    # (DPM) times a Python float becomes float32; a float32 one (Euler) stays float32.
    return [float((t.expand(1) * 1.0)[0]) for t in scheduler.timesteps]


def initial_latent() -> torch.Tensor:
    # Deterministic, exactly representable in float32: k/4 - 1.875 for a permutation k of 0..15 with varied signs.
    n = int(np.prod(LATENT_SHAPE))
    values = [((7 * i) % n) / 4.0 - 1.875 for i in range(n)]
    return torch.tensor(values, dtype=torch.float32).reshape(LATENT_SHAPE)


def synthetic_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """v = 0.5*x + 0.1*(t/1000), evaluated in float32 as written (t is the model-facing float32 timestep)."""
    return 0.5 * x + 0.1 * (t / 1000.0)


def _record_updates(scheduler, calls: list[int]) -> None:
    """Wrap the instance's update functions so each step records which one diffusers ran (1st or 2nd order)."""
    for order, name in ((1, "dpm_solver_first_order_update"), (2, "multistep_dpm_solver_second_order_update")):
        original = getattr(scheduler, name)

        def wrapped(*args, _original=original, _order=order, **kwargs):
            calls.append(_order)
            return _original(*args, **kwargs)

        setattr(scheduler, name, wrapped)


def trajectory(kind: str, steps: int, shift: float, classes) -> dict:
    scheduler = make_scheduler(kind, shift, classes)
    scheduler.set_timesteps(steps, device="cpu")  # retrieve_timesteps(scheduler, steps, device)
    orders: list[int] = []
    if kind == "flow_dpmpp_2m":
        _record_updates(scheduler, orders)
    latents = initial_latent()
    out: dict = {"scheduler": kind, "steps": steps, "shift": shift, "latents": []}
    x0 = []
    for t in scheduler.timesteps:  # SanaPipeline's denoising loop, guidance off
        timestep = t.expand(latents.shape[0]) * 1.0
        v = synthetic_velocity(latents, timestep.reshape(-1, 1, 1, 1)).float()
        latents = scheduler.step(v, t, latents, return_dict=False)[0]
        out["latents"].append(latents.flatten().tolist())
        if kind == "flow_dpmpp_2m":
            x0.append(scheduler.model_outputs[-1].flatten().tolist())  # this step's converted output (x0)
    if kind == "flow_dpmpp_2m":
        out["x0"] = x0
        out["order"] = orders
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("diffusers_src", help="path to a diffusers checkout's src/ folder")
    parser.add_argument("--revision", default="unknown", help="diffusers commit the source came from (recorded)")
    parser.add_argument("--out", default="tests/fixtures/schedulers.json")
    args = parser.parse_args()

    classes = _load_schedulers(os.path.abspath(args.diffusers_src))
    schedules = []
    for kind in ("flow_euler", "flow_dpmpp_2m"):
        for steps, shift in SCHEDULE_CASES:
            scheduler = make_scheduler(kind, shift, classes)
            scheduler.set_timesteps(steps, device="cpu")
            schedules.append(
                {
                    "scheduler": kind,
                    "steps": steps,
                    "shift": shift,
                    "sigmas": [float(s) for s in scheduler.sigmas],
                    "timesteps": model_timesteps(scheduler),
                    "timestepDtype": str(scheduler.timesteps.dtype).replace("torch.", ""),
                }
            )
    trajectories = [
        trajectory(kind, steps, shift, classes)
        for kind in ("flow_euler", "flow_dpmpp_2m")
        for steps, shift in TRAJECTORY_CASES
    ]
    fixture = {
        "generator": "tools/torch-reference/make_scheduler_reference.py",
        "diffusersRevision": args.revision,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "numTrainTimesteps": NUM_TRAIN_TIMESTEPS,
        "model": "v = 0.5*x + 0.1*(t/1000) in float32, t = model-facing timestep",
        "latentShape": list(LATENT_SHAPE),
        "initialLatent": initial_latent().flatten().tolist(),
        "schedules": schedules,
        "trajectories": trajectories,
    }
    with open(args.out, "w") as fh:
        json.dump(fixture, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {args.out}: {len(schedules)} schedules, {len(trajectories)} trajectories")


if __name__ == "__main__":
    main()
