"""Trains the sanagraph demo model: data -> DC-AE-style autoencoder -> latent cache -> text encoder + Sana DiT.

Usage: /usr/bin/python3 train.py --work .work [--images 24000 --ae-steps 5000 --dit-steps 4000 --seed 0]
Writes <work>/ae.pt, <work>/t2i.pt and <work>/train.json (figures). Deterministic from --seed (fixed step counts).
"""
import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import common as C


def lr_at(step, total, base, warmup, floor):
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', default=os.path.join(os.path.dirname(__file__), '.work'))
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--images', type=int, default=24000)
    ap.add_argument('--ae-steps', type=int, default=5000)
    ap.add_argument('--ae-batch', type=int, default=32)
    ap.add_argument('--dit-steps', type=int, default=4000)
    ap.add_argument('--dit-batch', type=int, default=64)
    ap.add_argument('--dit-d', type=int, default=160)
    ap.add_argument('--dit-depth', type=int, default=6)
    ap.add_argument('--dit-heads', type=int, default=5)
    ap.add_argument('--train-shift', type=float, default=3.0, help='timestep shift applied to the sampled t')
    ap.add_argument('--fg-weight', type=float, default=3.0, help='extra AE loss weight on shape pixels')
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    C.setup_torch(args.seed)
    figures = {'args': vars(args), 'threads': torch.get_num_threads()}
    t_all = time.time()

    # ---------------------------------------------------------------- data
    t0 = time.time()
    imgs, covs, caps = C.make_dataset(args.images, seed=args.seed + 1)
    figures['data_s'] = time.time() - t0
    log(f'data: {len(imgs)} images in {figures["data_s"]:.1f} s')

    # ---------------------------------------------------------------- autoencoder
    torch.manual_seed(args.seed + 2)
    ae = C.AutoEncoder()
    figures['params'] = {'ae_encoder': C.n_params(ae.encoder), 'ae_decoder': C.n_params(ae.decoder)}
    log(f'AE params: encoder {figures["params"]["ae_encoder"]/1e6:.3f} M, decoder {figures["params"]["ae_decoder"]/1e6:.3f} M')
    opt = torch.optim.AdamW(ae.parameters(), lr=2e-3, weight_decay=0.0)
    gen = np.random.default_rng(args.seed + 3)
    t0 = time.time()
    run_loss, run_mse, ae_log = 0.0, 0.0, []
    for step in range(args.ae_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, args.ae_steps, 2e-3, 50, 0.05)
        idx = gen.integers(0, len(imgs), args.ae_batch)
        x = C.from_uint8(imgs[idx])
        w = 1 + args.fg_weight * torch.from_numpy(covs[idx]).float()[:, None] / 255
        flip = torch.from_numpy(gen.random(args.ae_batch) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        w = torch.where(flip[:, None, None, None], w.flip(3), w)
        rec = ae.decoder(ae.encoder(x))
        se = (rec - x) ** 2
        loss = (se * w).mean() / w.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss = 0.98 * run_loss + 0.02 * loss.item() if step else loss.item()
        run_mse = 0.98 * run_mse + 0.02 * se.mean().item() if step else se.mean().item()
        if (step + 1) % 250 == 0 or step + 1 == args.ae_steps:
            psnr = 10 * math.log10(4 / run_mse)
            ae_log.append({'step': step + 1, 'loss': run_loss, 'mse': run_mse, 'psnr': psnr, 's': time.time() - t0})
            log(f'AE step {step+1}/{args.ae_steps} loss {run_loss:.5f} mse {run_mse:.5f} psnr {psnr:.2f} dB '
                f'({(time.time()-t0)/(step+1):.3f} s/step)')
    figures['ae_s'] = time.time() - t0
    figures['ae_log'] = ae_log
    ae.eval()
    torch.save(ae.state_dict(), os.path.join(args.work, 'ae.pt'))

    # ---------------------------------------------------------------- latent cache
    t0 = time.time()
    lat = []
    with torch.no_grad():
        for i in range(0, len(imgs), 250):
            x = C.from_uint8(imgs[i:i + 250])
            lat.append(ae.encoder(x))
    lat = torch.cat(lat)
    mean, std = lat.mean().item(), lat.std().item()
    sf = 1.0 / std
    figures.update(cache_s=time.time() - t0, latent_mean=mean, latent_std=std, scaling_factor=sf)
    log(f'latents {tuple(lat.shape)} in {figures["cache_s"]:.1f} s: mean {mean:.4f} std {std:.4f} -> scaling factor {sf:.5f}')
    lat = lat * sf
    ids_all, mask_all = C.tokenize_batch(caps)
    del imgs, covs

    # ---------------------------------------------------------------- text encoder + DiT
    torch.manual_seed(args.seed + 4)
    model = C.T2I(d=args.dit_d, depth=args.dit_depth, heads=args.dit_heads)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    figures['params'].update(text_encoder=C.n_params(model.text), dit=C.n_params(model.dit))
    log(f'text encoder {figures["params"]["text_encoder"]/1e6:.3f} M, DiT {figures["params"]["dit"]/1e6:.3f} M params')
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    gen = np.random.default_rng(args.seed + 5)
    torch.manual_seed(args.seed + 6)
    B = args.dit_batch
    L = C.MAX_LEN
    t0 = time.time()
    run_loss, dit_log = 0.0, []
    ema_params = list(ema.parameters())
    model_params = list(model.parameters())
    for step in range(args.dit_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, args.dit_steps, 1e-3, 100, 0.1)
        idx = gen.integers(0, len(lat), B)
        x0 = lat[idx]
        ids = ids_all[idx].clone()
        mask = mask_all[idx].clone()
        # robustness to unknown words: insert 1-3 <unk> at random places in 15 % of captions
        for j in np.nonzero(gen.random(B) < 0.15)[0]:
            for _ in range(1 + int(gen.random() < 0.4) + int(gen.random() < 0.15)):
                n = int(mask[j].sum())
                at = int(gen.integers(1, n + 1))
                row = torch.cat([ids[j, :at], torch.tensor([C.UNK_ID]), ids[j, at:n]])[:L]
                ids[j, :len(row)] = row
                mask[j, :len(row)] = 1
        # caption dropout 10 %: the empty prompt "" = <bos> only, as the engine encodes the negative prompt
        drop = torch.from_numpy(gen.random(B) < 0.10)
        ids[drop] = C.PAD_ID
        mask[drop] = 0
        ids[drop, 0] = C.BOS_ID
        mask[drop, 0] = 1
        # t: half logit-normal, half uniform, then the flow shift; x_t = (1-t) x0 + t eps, target eps - x0
        u = torch.where(torch.arange(B) < B // 2, torch.sigmoid(torch.randn(B)), torch.rand(B))
        t = args.train_shift * u / (1 + (args.train_shift - 1) * u)
        eps = torch.randn_like(x0)
        xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * eps
        v = model(xt, t * 1000, ids, mask)
        loss = F.mse_loss(v, eps - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, model_params, alpha=1 - decay)
        run_loss = 0.98 * run_loss + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % 200 == 0 or step + 1 == args.dit_steps:
            dit_log.append({'step': step + 1, 'loss': run_loss, 's': time.time() - t0})
            log(f'DiT step {step+1}/{args.dit_steps} loss {run_loss:.4f} ({(time.time()-t0)/(step+1):.3f} s/step)')
    figures['dit_s'] = time.time() - t0
    figures['dit_log'] = dit_log
    torch.save({'model': model.state_dict(), 'ema': ema.state_dict(),
                'config': {'d': args.dit_d, 'depth': args.dit_depth, 'heads': args.dit_heads},
                'scaling_factor': sf}, os.path.join(args.work, 't2i.pt'))
    figures['train_total_s'] = time.time() - t_all
    with open(os.path.join(args.work, 'train.json'), 'w') as f:
        json.dump(figures, f, indent=1)
    log(f'phases: data {figures["data_s"]:.0f} s, AE {figures["ae_s"]:.0f} s, cache {figures["cache_s"]:.0f} s, '
        f'DiT {figures["dit_s"]:.0f} s; total {figures["train_total_s"]:.0f} s')


if __name__ == '__main__':
    main()
