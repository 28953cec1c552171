"""Held-out evaluation of the trained demo model with the judge (see common.judge).

Usage: /usr/bin/python3 evaluate.py --work .work [--scheduler flow_dpmpp_2m --shift 3.0]
Prints the accuracy tables, writes <work>/eval.json and sample grids <work>/grid-*.png.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch

import common as C


def loosen(text, rng):
    """A loosely written variant of a grammar prompt: 'an', capitals, commas, extra spaces/words, final period."""
    words = text.split(' ')
    words = ['an' if w == 'a' and rng.random() < 0.5 else w for w in words]
    words = [w.capitalize() if rng.random() < 0.3 else (w.upper() if rng.random() < 0.1 else w) for w in words]
    i = words.index('on', 4) if 'on' in words[4:] else len(words) - 4
    words[i - 1] += ','
    pre = rng.choice(['', 'please draw ', 'a picture of ', 'Show me '])
    sep = rng.choice([' ', '  ', ' \t'])
    return '  ' + pre + sep.join(words) + rng.choice(['.', '!', '', ' .'])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', default=os.path.join(os.path.dirname(__file__), '.work'))
    ap.add_argument('--scheduler', default=C.DEFAULT_SCHEDULER)
    ap.add_argument('--shift', type=float, default=C.DEFAULT_SHIFT)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--shifts', default='1,3')
    args = ap.parse_args()
    C.setup_torch(0)
    t_start = time.time()
    model, ae, sf = C.load_trained(args.work)
    res = {'scaling_factor': sf}

    held = C.eval_prompts(C.HELD_OUT)
    seen = C.eval_prompts(random.Random(7).sample(C.TRAIN_COMBOS, 84))

    # ground truth and the AE ceiling on held-out combos
    rng = np.random.default_rng(999)
    gt = np.stack([C.render(p['fg'], p['shape'], p['pos'], p['bg'], p['size'], rng)[0] for p in held])
    res['judge_on_ground_truth'] = C.score(held, gt)
    with torch.no_grad():
        x = C.from_uint8(gt)
        rec = ae.decoder(ae.encoder(x))
    mse = ((rec.clamp(-1, 1) - x) ** 2).mean().item()
    res['ae_heldout_psnr'] = 10 * np.log10(4 / mse)
    rec = C.to_uint8(rec)
    res['ae_ceiling'] = C.score(held, rec)
    C.save_grid(os.path.join(args.work, 'grid-ae-heldout.png'), np.concatenate([gt[:12], rec[:12]]), 12)
    print(f'judge on held-out ground truth: {fmt(res["judge_on_ground_truth"])}')
    print(f'AE ceiling (held-out ground truth, PSNR {res["ae_heldout_psnr"]:.2f} dB): {fmt(res["ae_ceiling"])}')

    def run(prompts, scheduler, shift, cfg, texts=None, tag=None):
        t0 = time.time()
        seeds = [1000 + i for i in range(len(prompts))]
        z = C.sample(model, texts or [p['text'] for p in prompts], seeds, scheduler, args.steps, cfg, shift)
        with torch.no_grad():
            imgs = C.to_uint8(ae.decoder(z / sf))
        dt = (time.time() - t0) / len(prompts)
        if tag:
            C.save_grid(os.path.join(args.work, f'grid-{tag}.png'), imgs[:42], 7)
        return C.score(prompts, imgs), dt

    rows = []
    for scheduler in ('flow_euler', 'flow_dpmpp_2m'):
        for shift in [float(s) for s in args.shifts.split(',')]:
            for cfg in (4.5, 1.0):
                for name, prompts in (('held-out', held), ('seen', seen)):
                    default = scheduler == args.scheduler and shift == args.shift
                    tag = f'{name}-cfg{cfg}' if default else None
                    acc, dt = run(prompts, scheduler, shift, cfg, tag=tag)
                    rows.append(dict(scheduler=scheduler, shift=shift, cfg=cfg, prompts=name, s_per_image=dt, **acc))
                    print(f'{scheduler:14s} shift {shift:.1f} cfg {cfg:.1f} {name:8s}: {fmt(acc)}  ({dt*1000:.0f} ms/image)',
                          flush=True)
    res['grid'] = rows

    # loosely written prompts (tokenizer normalisation + <unk> robustness), default sampler, CFG 4.5
    lrng = random.Random(5)
    loose = [loosen(p['text'], lrng) for p in held]
    acc, _ = run(held, args.scheduler, args.shift, 4.5, texts=loose, tag='held-out-loose')
    res['loose_heldout_cfg4.5'] = acc
    res['loose_examples'] = loose[:6]
    print(f'loose held-out prompts ({args.scheduler}, shift {args.shift}, CFG 4.5): {fmt(acc)}')
    for t in loose[:4]:
        print(f'   e.g. {t!r} -> {C.tokenize(t)[0]}')

    print(f'\nHeld-out accuracy, {args.scheduler}, {args.steps} steps, shift {args.shift} (n = {len(held)}):')
    print('| CFG | fg colour | background | position | shape | size | fg+bg+pos | fg+bg+pos+shape |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        if r['scheduler'] == args.scheduler and r['shift'] == args.shift and r['prompts'] == 'held-out':
            print(f'| {r["cfg"]} | {r["fg"]:.1f} % | {r["bg"]:.1f} % | {r["pos"]:.1f} % | {r["shape"]:.1f} % | '
                  f'{r["size"]:.1f} % | {r["all3"]:.1f} % | {r["all4"]:.1f} % |')
    res['eval_s'] = time.time() - t_start
    print(f'evaluation took {res["eval_s"]:.0f} s')
    with open(os.path.join(args.work, 'eval.json'), 'w') as f:
        json.dump(res, f, indent=1)


def fmt(a):
    return (f'fg {a["fg"]:5.1f}  bg {a["bg"]:5.1f}  pos {a["pos"]:5.1f}  shape {a["shape"]:5.1f}  size {a["size"]:5.1f}'
            f'  all3 {a["all3"]:5.1f}  all4 {a["all4"]:5.1f}')


if __name__ == '__main__':
    main()
