"""The Python half of scripts/gpu-check.sh: diffusers' reference timings for Sana on CUDA, and the
ONNX export of the same random-weight models for sanagraph to run.

    python3 scripts/gpu-check/sana_torch.py MODEL_DIR [--size 1600M|600M|tiny] [--res 1024]
        [--dtypes bf16[,fp16]] [--steps 20] [--no-timing] [--no-export] [--python-repair] [--jsonl FILE]

1. Builds SanaTransformer2DModel and AutoencoderDC with the configurations of
   Efficient-Large-Model/Sana_1600M_1024px_diffusers and mit-han-lab/dc-ae-f32c32-sana-1.0
   (random weights, seed 0). diffusers is imported from $DIFFUSERS_SRC when set (a source checkout's
   `src` folder), else from the installed package.
2. Times diffusers eagerly (each dtype of --dtypes) with CUDA events: one guided step = one
   transformer call on a batch of 2 ([uncond; cond], as SanaPipeline runs CFG); the DC-AE decode of
   one latent; one whole image as SanaPipeline's loop makes it (steps × (transformer, CFG, DPM-Solver++
   step) + decode), the first one cold.
3. Exports both models in fp16 with torch.onnx.export in optimum's layout and I/O names
   (transformer/model.onnx + model.onnx_data, vae_decoder/model.onnx, their config.json,
   scheduler/, model_index.json) and writes conditioning.safetensors (random text embeddings:
   prompt_embeds/prompt_mask/negative_embeds/negative_mask, [1, 300, 2304]). The decoder is left as
   the exporter writes it (negative Transpose perms included: sanagraph repairs them at load);
   --python-repair rewrites them here instead.

Every result is one JSON line with a `stage`, on stdout and appended to --jsonl
(default $OUT/torch.jsonl). Exit status: 0 on success, 3 when diffusers cannot be imported,
1 when something else failed (what was done before is logged).
"""
import argparse
import copy
import json
import os
import shutil
import sys
import time
import traceback

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('model_dir')
parser.add_argument('--size', default='1600M', choices=['1600M', '600M', 'tiny'])
parser.add_argument('--res', type=int, default=1024)
parser.add_argument('--dtypes', default='bf16', help='comma-separated: bf16, fp16 (eager timing dtypes)')
parser.add_argument('--steps', type=int, default=20, help='steps of the timed whole-image loop')
parser.add_argument('--no-timing', action='store_true')
parser.add_argument('--no-export', action='store_true')
parser.add_argument('--python-repair', action='store_true', help="rewrite the decoder's negative Transpose perms here")
parser.add_argument('--jsonl', default=os.path.join(os.environ.get('OUT', '.'), 'torch.jsonl'))
args = parser.parse_args()

OUT_DIR = args.model_dir
LAT = args.res // 32
TOKENS = 300
T0 = time.time()


def log(**kv):
    kv = {'kind': 'torch', **kv, 't': round(time.time() - T0, 1)}
    line = json.dumps(kv)
    print(line, flush=True)
    with open(args.jsonl, 'a') as f:
        f.write(line + '\n')


src = os.environ.get('DIFFUSERS_SRC')
if src:
    sys.path.insert(0, src)
try:
    import torch
except Exception as ex:  # noqa: BLE001
    log(stage='error', what='import', message=f'cannot import torch ({type(ex).__name__}: {ex})',
        hint='run the check with a Python that has PyTorch (scripts/gpu-check.sh --python PY)', python=sys.executable)
    sys.exit(3)
try:
    import diffusers
    from diffusers.models.transformers.sana_transformer import SanaTransformer2DModel
    from diffusers.models.autoencoders.autoencoder_dc import AutoencoderDC
except Exception as ex:  # noqa: BLE001 - report any import failure the same way
    log(stage='error', what='import', message=f'cannot import diffusers ({type(ex).__name__}: {ex})',
        hint="give diffusers' source with --diffusers DIR (a checkout, or its src/ folder), or make the bundle with it: "
             'scripts/gpu-bundle.sh --diffusers DIR', diffusers_src=src)
    sys.exit(3)

# Sana_1600M_1024px_diffusers/transformer/config.json (600M: Sana_600M_1024px; tiny: for smoke tests)
TCFG = {
    '1600M': dict(num_attention_heads=70, attention_head_dim=32, num_layers=20, num_cross_attention_heads=20,
                  cross_attention_head_dim=112, cross_attention_dim=2240, caption_channels=2304),
    '600M': dict(num_attention_heads=36, attention_head_dim=32, num_layers=28, num_cross_attention_heads=16,
                 cross_attention_head_dim=72, cross_attention_dim=1152, caption_channels=2304),
    'tiny': dict(num_attention_heads=2, attention_head_dim=32, num_layers=2, num_cross_attention_heads=2,
                 cross_attention_head_dim=32, cross_attention_dim=64, caption_channels=48),
}[args.size]
TCFG.update(in_channels=32, out_channels=32, mlp_ratio=2.5, sample_size=32, patch_size=1,
            norm_elementwise_affine=False, norm_eps=1e-6)
# mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers/config.json
VCFG = dict(in_channels=3, latent_channels=32, attention_head_dim=32,
            encoder_block_types=['ResBlock'] * 3 + ['EfficientViTBlock'] * 3,
            decoder_block_types=['ResBlock'] * 3 + ['EfficientViTBlock'] * 3,
            encoder_block_out_channels=[128, 256, 512, 512, 1024, 1024],
            decoder_block_out_channels=[128, 256, 512, 512, 1024, 1024],
            encoder_layers_per_block=[2, 2, 2, 3, 3, 3], decoder_layers_per_block=[3, 3, 3, 3, 3, 3],
            encoder_qkv_multiscales=[[], [], [], [5], [5], [5]], decoder_qkv_multiscales=[[], [], [], [5], [5], [5]],
            upsample_block_type='interpolate', downsample_block_type='Conv', decoder_norm_types='rms_norm',
            decoder_act_fns='silu', scaling_factor=0.41407)
# Sana_1600M_1024px_diffusers/scheduler/scheduler_config.json (the keys that matter)
SCHEDULER = dict(num_train_timesteps=1000, solver_order=2, prediction_type='flow_prediction', algorithm_type='dpmsolver++',
                 solver_type='midpoint', use_flow_sigmas=True, flow_shift=3.0, final_sigmas_type='zero', lower_order_final=True)

dev = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
log(stage='env', torch=torch.__version__, cuda=torch.version.cuda, diffusers=diffusers.__version__, diffusers_from=os.path.dirname(diffusers.__file__),
    device=torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu', size=args.size, res=args.res)
if dev != 'cuda':
    log(stage='note', message='no CUDA device visible to torch: the diffusers timings are CPU timings')

torch.manual_seed(0)
with torch.device(dev):
    transformer = SanaTransformer2DModel(**TCFG).eval()
    vae = AutoencoderDC(**VCFG).eval()
n_transformer = sum(p.numel() for p in transformer.parameters())
n_decoder = sum(p.numel() for p in vae.decoder.parameters())
log(stage='built', transformer_params=n_transformer, decoder_params=n_decoder)

C = TCFG['caption_channels']
g = torch.Generator(device='cpu').manual_seed(1)
cond = {
    'prompt_embeds': torch.randn(1, TOKENS, C, generator=g), 'prompt_mask': torch.ones(1, TOKENS),
    'negative_embeds': torch.randn(1, TOKENS, C, generator=g), 'negative_mask': torch.ones(1, TOKENS),
}
cond['prompt_mask'][:, 40:] = 0  # a 40-token prompt, padded to 300 as SanaPipeline's tokenizer call does
cond['negative_mask'][:, 8:] = 0


def sync():
    if dev == 'cuda':
        torch.cuda.synchronize()


def timed(fn, warm=3, reps=10):
    """Median and best milliseconds of fn, by CUDA events (perf_counter on the CPU)."""
    for _ in range(warm):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        if dev == 'cuda':
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            ts.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def make_scheduler():
    from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
    return DPMSolverMultistepScheduler(**SCHEDULER)


def time_dtype(name, dtype):
    """diffusers eager in one dtype: a guided step, a decode, whole images (SanaPipeline's loop)."""
    tr, vd = copy.deepcopy(transformer).to(dtype), copy.deepcopy(vae).to(dtype)
    emb = torch.cat([cond['negative_embeds'], cond['prompt_embeds']]).to(dev, dtype)
    mask = torch.cat([cond['negative_mask'], cond['prompt_mask']]).to(dev)
    rec = {'stage': 'torch', 'dtype': name, 'steps': args.steps}
    try:
        with torch.inference_mode():
            try:
                scheduler = make_scheduler()
            except Exception as ex:  # noqa: BLE001
                scheduler = None
                rec['image_note'] = f'no DPMSolverMultistepScheduler ({type(ex).__name__}: {ex}); the image is steps × step + decode'

            def image(seed):
                # SanaPipeline.__call__'s denoising loop and decode, without the text encoder and the PIL conversion
                latents = torch.randn(1, 32, LAT, LAT, generator=torch.Generator().manual_seed(seed)).to(dev)
                scheduler.set_timesteps(args.steps, device=dev)
                for t in scheduler.timesteps:
                    x = torch.cat([latents] * 2).to(dtype)
                    noise = tr(hidden_states=x, encoder_hidden_states=emb, encoder_attention_mask=mask,
                               timestep=t.expand(2), return_dict=False)[0].float()
                    uncond, text = noise.chunk(2)
                    latents = scheduler.step(uncond + 4.5 * (text - uncond), t, latents, return_dict=False)[0]
                return vd.decode((latents / VCFG['scaling_factor']).to(dtype), return_dict=False)[0]

            if scheduler is not None:
                try:
                    t = time.perf_counter()
                    img = image(0)
                    sync()
                    rec['first_image_ms'] = round((time.perf_counter() - t) * 1e3, 1)
                    rec['finite_image'] = bool(torch.isfinite(img).all())
                except Exception as ex:  # noqa: BLE001 - the step and decode timings still count
                    scheduler = None
                    rec['image_note'] = f'the denoising loop failed ({type(ex).__name__}: {ex})'[:400] + '; the image is steps × step + decode'

            x = torch.randn(2, 32, LAT, LAT, device=dev, dtype=dtype)
            ts = torch.full((2,), 500.0, device=dev, dtype=dtype)
            step = lambda: tr(hidden_states=x, encoder_hidden_states=emb, encoder_attention_mask=mask, timestep=ts, return_dict=False)[0]
            out = step()
            rec['step_ms'], rec['step_best_ms'] = (round(v, 2) for v in timed(step))
            rec['finite_step'] = bool(torch.isfinite(out).all())
            z = torch.randn(1, 32, LAT, LAT, device=dev, dtype=dtype)
            dec = lambda: vd.decode(z, return_dict=False)[0]
            img = dec()
            rec['decode_ms'], rec['decode_best_ms'] = (round(v, 2) for v in timed(dec, warm=2, reps=5))
            rec['finite_decode'] = bool(torch.isfinite(img).all())
            rec['step_tflops'] = round(2 * 2 * n_transformer * LAT * LAT / (rec['step_ms'] / 1e3) / 1e12, 1)
            if scheduler is not None:
                seeds = iter(range(1, 100))
                rec['image_ms'] = round(timed(lambda: image(next(seeds)), warm=1, reps=3)[0], 1)
            else:
                rec['image_ms'] = round(args.steps * rec['step_ms'] + rec['decode_ms'], 1)
                rec['image_estimated'] = True
        log(**rec)
    except Exception as ex:  # noqa: BLE001 - keep going: the export matters more
        log(**rec, error=f'{type(ex).__name__}: {ex}'[:600])
    finally:
        tr = vd = None  # noqa: F841 - frees the copies before the next dtype
        if dev == 'cuda':
            torch.cuda.empty_cache()


if not args.no_timing:
    for name in [d.strip() for d in args.dtypes.split(',') if d.strip()]:
        time_dtype(name, {'bf16': torch.bfloat16, 'fp16': torch.float16, 'fp32': torch.float32}[name])

if args.no_export:
    log(stage='done')
    sys.exit(0)

# ---------------------------------------------------------------------------------------------
# ONNX export in optimum's layout and I/O names (optimum's SanaTransformerOnnxConfig and
# DcaeDecoderOnnxConfig): transformer hidden_states, encoder_hidden_states, encoder_attention_mask
# (int64), timestep → out_hidden_states; decoder latent_sample → sample. Batch and token count are
# dynamic; the spatial size is the one traced (--res), as in the kit's measured export.

from safetensors.torch import save_file  # noqa: E402


class Transformer(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, hidden_states, encoder_hidden_states, encoder_attention_mask, timestep):
        return self.m(hidden_states=hidden_states, encoder_hidden_states=encoder_hidden_states,
                      encoder_attention_mask=encoder_attention_mask, timestep=timestep, return_dict=False)[0]


class Decoder(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, latent_sample):
        return self.m.decode(latent_sample, return_dict=False)[0]


def folder_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def export(module, inputs, sub, input_names, output_names, axes):
    """Exports into a scratch folder, then writes MODEL_DIR/sub/model.onnx with its external data
    (if any) in one model.onnx_data, as optimum does (the TorchScript exporter writes one file per
    initializer beyond 2 GB)."""
    final = os.path.join(OUT_DIR, sub)
    scratch = final + '.export'
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    os.makedirs(scratch)
    path = os.path.join(scratch, 'model.onnx')
    t = time.time()
    try:
        torch.onnx.export(module, inputs, path, input_names=input_names, output_names=output_names, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        how = 'torchscript'
    except Exception as ex:  # noqa: BLE001 - the dynamo exporter is the fallback
        log(stage='export_note', model=sub, torchscript_error=f'{type(ex).__name__}: {ex}'[:400])
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        program = torch.onnx.export(module, inputs, input_names=input_names, output_names=output_names, dynamo=True,
                                    external_data=True)
        program.save(path, external_data=True)
        how = 'dynamo'
    seconds = round(time.time() - t, 1)
    layout = consolidate(scratch, final, sub)
    log(stage='exported', model=sub, how=how, seconds=seconds, total_seconds=round(time.time() - t, 1), bytes=folder_bytes(final), layout=layout)


def consolidate(scratch, final, sub):
    """Moves scratch/model.onnx to final/, its external data (any number of files) into one
    final/model.onnx_data; returns what was written."""
    extra = [f for f in os.listdir(scratch) if f != 'model.onnx']
    if not extra:
        os.rename(scratch, final)
        return 'single file'
    try:
        import onnx
        m = onnx.load(os.path.join(scratch, 'model.onnx'))
        os.makedirs(final)
        onnx.save_model(m, os.path.join(final, 'model.onnx'), save_as_external_data=True, all_tensors_to_one_file=True,
                        location='model.onnx_data', size_threshold=1024)
        del m
        shutil.rmtree(scratch)
        return 'model.onnx + model.onnx_data'
    except Exception as ex:  # noqa: BLE001 - keep the exporter's own files: ONNX Runtime reads them too
        log(stage='export_note', model=sub, message=f'external data left as the exporter wrote it ({len(extra)} files): {type(ex).__name__}: {ex}'[:400])
        shutil.rmtree(final, ignore_errors=True)
        os.rename(scratch, final)
        return f'{len(extra) + 1} files'


def negative_perms(path, repair):
    """Counts (and with repair rewrites) Transpose nodes whose perm has negative axes."""
    import onnx
    m = onnx.load(path, load_external_data=False)
    count = 0
    for n in m.graph.node:
        if n.op_type != 'Transpose':
            continue
        for a in n.attribute:
            if a.name == 'perm' and any(v < 0 for v in a.ints):
                count += 1
                if repair:
                    r = len(a.ints)
                    fixed = [v % r for v in a.ints]
                    del a.ints[:]
                    a.ints.extend(fixed)
    if repair and count:
        onnx.save(m, path)
    return count


def write_json(rel, obj):
    with open(os.path.join(OUT_DIR, rel), 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)


try:
    os.makedirs(OUT_DIR, exist_ok=True)
    marker = os.path.join(OUT_DIR, 'gpu-check-export.json')
    if os.path.exists(marker):
        os.remove(marker)
    save_file({k: v.contiguous() for k, v in cond.items()}, os.path.join(OUT_DIR, 'conditioning.safetensors'))
    os.makedirs(os.path.join(OUT_DIR, 'scheduler'), exist_ok=True)
    write_json('scheduler/scheduler_config.json', {'_class_name': 'DPMSolverMultistepScheduler', '_diffusers_version': diffusers.__version__, **SCHEDULER})
    write_json('model_index.json', {
        '_class_name': 'SanaPipeline', '_diffusers_version': diffusers.__version__, '_name_or_path': f'gpu-check-random-sana-{args.size}',
        'scheduler': ['diffusers', 'DPMSolverMultistepScheduler'], 'transformer': ['diffusers', 'SanaTransformer2DModel'],
        'vae': ['diffusers', 'AutoencoderDC'], 'text_encoder': [None, None], 'tokenizer': [None, None]})
    edtype = torch.float16
    with torch.no_grad():
        tr = transformer.to(edtype)
        x = torch.randn(2, 32, LAT, LAT, device=dev, dtype=edtype)
        e = torch.randn(2, TOKENS, C, device=dev, dtype=edtype)
        m = torch.ones(2, TOKENS, device=dev, dtype=torch.int64)
        ts = torch.full((2,), 500.0, device=dev, dtype=edtype)
        export(Transformer(tr), (x, e, m, ts), 'transformer',
               ['hidden_states', 'encoder_hidden_states', 'encoder_attention_mask', 'timestep'], ['out_hidden_states'],
               {'hidden_states': {0: 'batch'}, 'encoder_hidden_states': {0: 'batch', 1: 'tokens'},
                'encoder_attention_mask': {0: 'batch', 1: 'tokens'}, 'timestep': {0: 'batch'}, 'out_hidden_states': {0: 'batch'}})
        transformer.save_config(os.path.join(OUT_DIR, 'transformer'))
        del tr, x, e, m
        transformer.to('cpu')
        if dev == 'cuda':
            torch.cuda.empty_cache()
        vd = vae.to(edtype)
        z = torch.randn(1, 32, LAT, LAT, device=dev, dtype=edtype)
        export(Decoder(vd), (z,), 'vae_decoder', ['latent_sample'], ['sample'],
               {'latent_sample': {0: 'batch'}, 'sample': {0: 'batch'}})
        vae.save_config(os.path.join(OUT_DIR, 'vae_decoder'))
    try:
        count = negative_perms(os.path.join(OUT_DIR, 'vae_decoder', 'model.onnx'), args.python_repair)
        log(stage='decoder_perms', negative_transpose_perms=count, repaired_in_python=bool(args.python_repair and count))
    except Exception as ex:  # noqa: BLE001
        log(stage='decoder_perms', error=f'{type(ex).__name__}: {ex}'[:300])
    write_json('gpu-check-export.json', {'size': args.size, 'res': args.res, 'dtype': 'fp16', 'python_repair': args.python_repair,
                                         'torch': torch.__version__, 'diffusers': diffusers.__version__})
    log(stage='done')
except Exception as ex:  # noqa: BLE001
    log(stage='error', what='export', message=f'{type(ex).__name__}: {ex}'[:800], traceback=traceback.format_exc()[-1500:])
    sys.exit(1)
