"""The table of scripts/gpu-check.sh: diffusers against sanagraph, one row per provider.

    python3 scripts/gpu-check/report.py OUT_DIR [--providers cuda,webgpu] [--steps 20]

Reads OUT_DIR/torch.jsonl (sana_torch.py), OUT_DIR/engine.jsonl (engine-bench.ts, one line per
event) and OUT_DIR/env.txt (key=value lines); prints the table and writes OUT_DIR/results.jsonl
(one summary line per row) and OUT_DIR/results.md. Standard library only, so it runs wherever the
check's Python does, whatever else failed.
"""
import argparse
import json
import os
import statistics

parser = argparse.ArgumentParser()
parser.add_argument('out')
parser.add_argument('--providers', default='', help='the providers the check was asked to run, in order')
parser.add_argument('--steps', type=int, default=20, help='steps of the reference image')
args = parser.parse_args()
STEPS = args.steps


def read_jsonl(name):
    rows = []
    try:
        with open(os.path.join(args.out, name)) as f:
            for line in f:
                line = line.strip()
                if line.startswith('{'):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line cut by a kill
    except FileNotFoundError:
        pass
    return rows


def read_env():
    env = {}
    try:
        with open(os.path.join(args.out, 'env.txt')) as f:
            for line in f:
                key, sep, value = line.partition('=')
                if sep and key.strip() and ' ' not in key.strip():
                    env[key.strip()] = value.strip()
    except FileNotFoundError:
        pass
    return env


def median(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


torch_rows = read_jsonl('torch.jsonl')
engine_rows = read_jsonl('engine.jsonl')
env = read_env()
for r in torch_rows:
    if r.get('stage') == 'env':
        for k in ('torch', 'cuda', 'diffusers'):
            if r.get(k):
                env.setdefault(k, str(r[k]))
notes = []

# ---- diffusers rows --------------------------------------------------------------------------
rows = []
for r in torch_rows:
    if r.get('stage') == 'error':
        notes.append(f"diffusers/export: {r.get('message')}" + (f" ({r['hint']})" if r.get('hint') else ''))
    if r.get('stage') == 'export_note':
        notes.append(f"export of {r.get('model')}: {r.get('torchscript_error') or r.get('message')}")
    if r.get('stage') != 'torch':
        continue
    row = {'row': f"diffusers {r.get('dtype')}", 'engine': 'diffusers', 'provider': 'torch-cuda', 'dtype': r.get('dtype'),
           'status': 'ok' if 'error' not in r else 'failed', 'steps': r.get('steps', STEPS),
           'per_step_ms': r.get('step_ms'), 'decode_ms': r.get('decode_ms'), 'image_ms': r.get('image_ms'),
           'image_estimated': bool(r.get('image_estimated')), 'first_run_ms': r.get('first_image_ms'),
           'finite': all(r.get(k, True) for k in ('finite_step', 'finite_decode', 'finite_image'))}
    if 'error' in r:
        row['error'] = r['error']
    if not row['finite']:
        notes.append(f"diffusers {r.get('dtype')}: non-finite output (random weights overflowing in {r.get('dtype')})")
    rows.append(row)
reference = next((r for r in rows if r['dtype'] == 'bf16' and r['status'] == 'ok'), next((r for r in rows if r['status'] == 'ok'), None))

# ---- sanagraph rows --------------------------------------------------------------------------
asked = [p for p in args.providers.split(',') if p]
seen = []
for r in engine_rows:
    if r.get('provider') not in seen:
        seen.append(r.get('provider'))
for provider in asked + [p for p in seen if p not in asked]:
    events = [r for r in engine_rows if r.get('provider') == provider]
    runs = [r for r in events if r.get('event') == 'run']
    errors = [r for r in events if r.get('event') == 'error']
    row = {'row': f'sanagraph {provider}', 'engine': 'sanagraph', 'provider': provider, 'runs': len(runs)}
    start = next((r for r in events if r.get('event') == 'start'), {})
    row.update({k: start[k] for k in ('node', 'onnxruntime_node', 'res') if k in start})
    first = next((r for r in runs if r.get('run') == 0), None)
    warm = [r for r in runs if r.get('run', 0) > 0]
    if runs:
        steps = runs[-1].get('steps', STEPS)
        row['steps'] = steps
        pick = warm or runs
        row['per_step_ms'] = median(r.get('per_step_ms') for r in pick)
        row['decode_ms'] = median(r.get('decode_ms') for r in pick)
        row['ort_per_step_ms'] = median(r.get('ort_per_step_ms') for r in pick)
        row['ort_decoder_ms'] = median(r.get('ort_decoder_ms') for r in pick)
        row['outside_ort_ms'] = median(r.get('outside_ort_ms') for r in pick)
        row['warm_from_first_run_only'] = not warm
        if first:
            row['first_run_ms'] = first.get('total_ms')
        if warm:
            image = median(r.get('total_ms') for r in warm)
            if steps != STEPS and row['per_step_ms'] is not None:
                image += (STEPS - steps) * row['per_step_ms']
                row['image_estimated'] = True
            row['image_ms'] = image
        row['loaded_on'] = runs[-1].get('providers')
        others = sorted({p for p in (row['loaded_on'] or {}).values() if p != provider})
        if others and provider != 'auto':
            notes.append(f'sanagraph {provider}: some models ran on {", ".join(others)}')
    for r in events:
        if r.get('event') == 'repaired':
            row['repaired_at_load'] = r.get('reason')
            notes.append(f"sanagraph {provider}: the engine {r.get('reason')} at load")
    if errors:
        e = errors[-1]
        row['status'] = 'load failed' if e.get('stage') == 'load' else 'failed'
        row['error'] = e.get('message')
        if e.get('hint'):
            row['hint'] = e['hint']
        if e.get('per_step_ms') is not None and 'per_step_ms' not in row:
            row['per_step_ms'] = e['per_step_ms']
        notes.append(f"sanagraph {provider}: {row['status']}: {e.get('message')}" + (f" — {e['hint']}" if e.get('hint') else ''))
    elif any(r.get('event') == 'timeout' for r in events):
        row['status'] = 'timed out' if not runs else 'partial (timed out)'
        notes.append(f'sanagraph {provider}: stopped by the time budget after {len(runs)} run(s)')
    elif any(r.get('event') == 'skipped' for r in events):
        skipped = next(r for r in events if r.get('event') == 'skipped')
        row['status'] = 'not run'
        notes.append(f"sanagraph {provider}: not run: {skipped.get('reason')}")
    elif not runs:
        row['status'] = 'no result'
        notes.append(f'sanagraph {provider}: no result (see logs/engine-{provider}.log)')
    else:
        row['status'] = 'ok'
        if any(r.get('event') == 'stopped' for r in events):
            row['status'] = 'ok (fewer runs: time budget)'
        if row['warm_from_first_run_only']:
            row['status'] = 'first run only'
            notes.append(f'sanagraph {provider}: one run only: its per step and decode are those of the cold first run')
        if row.get('steps') != STEPS:
            row['status'] += f" ({row.get('steps')} steps)"
    rows.append(row)

if reference:
    ref_res = next((r.get('res') for r in torch_rows if r.get('stage') == 'env'), None)
    for row in rows:
        if ref_res and row.get('res') and row['res'] != ref_res:
            notes.append(f"{row['row']} ran at {row['res']}², diffusers at {ref_res}²: the ratios compare different sizes")
        row['step_ratio'] = ratio(row.get('per_step_ms'), reference.get('per_step_ms'))
        row['image_ratio'] = ratio(row.get('image_ms'), reference.get('image_ms'))

# ---- output ----------------------------------------------------------------------------------


def ms(x, digits=1):
    return '—' if x is None else f'{x:.{digits}f} ms'


def s(x, estimated=False):
    return '—' if x is None else f"{'≈' if estimated else ''}{x / 1000:.2f} s"


def times(x):
    return '—' if x is None else (f'{x:.1f}×' if x >= 1.95 else f'{x:.2f}×')


HEADER = ['', 'per step', 'decode', 'per image (warm)', 'first run', '× diffusers (step / image)', 'status']
table = []
for row in rows:
    if row is reference:
        rel = 'reference'
    elif reference and (row.get('step_ratio') is not None or row.get('image_ratio') is not None):
        rel = f"{times(row.get('step_ratio'))} / {times(row.get('image_ratio'))}"
    else:
        rel = '—'
    table.append([row['row'], ms(row.get('per_step_ms')), ms(row.get('decode_ms'), 0), s(row.get('image_ms'), row.get('image_estimated', False)),
                  s(row.get('first_run_ms')), rel, row.get('status', '')])

widths = [max(len(str(c)) for c in col) for col in zip(HEADER, *table)]
fmt = lambda cells: '  '.join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
title = (f"{env.get('model', 'Sana-1600M-shaped random weights, fp16 ONNX')}; {env.get('res', '1024')}², {STEPS} steps, CFG 4.5 (batch 2); "
         f"{env.get('gpu', 'no NVIDIA GPU seen')}")
print(title)
print(fmt(HEADER))
print(fmt(['-' * w for w in widths]))
for cells in table:
    print(fmt(cells))
for n in notes:
    print(f'- {n}')

with open(os.path.join(args.out, 'results.jsonl'), 'w') as f:
    for row in rows:
        f.write(json.dumps({'kind': 'summary', **row}) + '\n')

env_line = ', '.join(f'{k} {env[k]}' for k in ('gpu', 'driver', 'cuda', 'torch', 'diffusers', 'node', 'onnxruntime_node', 'commit', 'date') if env.get(k))
md = ['# sanagraph GPU check', '', title + '.', '']
if env_line:
    md += [env_line + '.', '']
md += ['| ' + ' | '.join(HEADER) + ' |', '| ' + ' | '.join(['---'] + ['---:'] * 5 + ['---']) + ' |']
md += ['| ' + ' | '.join(str(c).replace('|', '\\|') for c in cells) + ' |' for cells in table]
if notes:
    md += [''] + [f'- {n}' for n in notes]
try:
    with open(os.path.join(args.out, 'doctor.txt')) as f:
        doctor = [line.rstrip() for line in f if line.split(' ', 1)[0] in ('cpu', 'webgpu', 'cuda')]
    if doctor:
        md += ['', '`sanagraph doctor` on this machine:', '', '```'] + doctor + ['```']
except FileNotFoundError:
    pass
md += ['', 'Per step: one guided step (batch 2); decode: DC-AE to pixels; per image: the whole workflow, warm (≈: extrapolated to '
       f'{STEPS} steps); first run: the first image, sessions created. Column meanings: docs/gpu.md.', '']
with open(os.path.join(args.out, 'results.md'), 'w') as f:
    f.write('\n'.join(md))
