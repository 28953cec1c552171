#!/usr/bin/env python3
"""Write tests/fixtures/torch-randn.json: reference torch.randn outputs for engine/torch-random.ts.

Each case seeds a fresh CPU generator, torch.Generator().manual_seed(seed), and records one or
more consecutive float32 torch.randn calls on it (consecutive calls check that the generator
state, including the cached Box-Muller value of the < 16 element path, carries over).

torch runs a different float32 kernel for >= 16 elements depending on the CPU capability:
AVX2 on x86-64 (AVX512 machines too), plain C++ with libm elsewhere. So the cases are made
twice, in child processes with ATEN_CPU_CAPABILITY=avx2 and =default; the second set is
smaller and only checked to a tolerance, since libm results vary between platforms.

Usage (Debian's python3-torch, i.e. torch 1.13 for the CPU, is enough):
    /usr/bin/python3 tools/torch-reference/make_randn_reference.py [output.json]
"""

import json
import os
import subprocess
import sys
from pathlib import Path

COMFY_SEED = 156680208700286
SEEDS = [0, 42, 2**32 + 5, 2**63 + 123, COMFY_SEED]
SMALL_SIZES = [[1], [3], [15], [16], [17], [31], [32], [100]]


def avx2_cases():
    cases = [(f'{shape} seed {seed}', seed, [shape]) for shape in SMALL_SIZES for seed in SEEDS]
    cases += [
        ('[4,32,4,4] seed 0', 0, [[4, 32, 4, 4]]),
        ('[1,32,4,4] seed 42', 42, [[1, 32, 4, 4]]),
        ('[1,32,4,4] seed 2**63+123', 2**63 + 123, [[1, 32, 4, 4]]),
        ('[2,32,8,8] seed 156680208700286', COMFY_SEED, [[2, 32, 8, 8]]),
        # 3 values leave a cached sine half; the 20-value call must not touch it; the 1-value
        # call must return it.
        ('consecutive [3],[20],[1] seed 42', 42, [[3], [20], [1]]),
        ('consecutive [1,32,4,4],[17] seed 7', 7, [[1, 32, 4, 4], [17]]),
    ]
    return cases


def scalar_cases():
    return [
        ('[16] seed 0', 0, [[16]]),
        ('[100] seed 42', 42, [[100]]),
        ('[1,32,4,4] seed 156680208700286', COMFY_SEED, [[1, 32, 4, 4]]),
    ]


def run_cases(cases):
    """Runs in the child process, under the CPU capability set in its environment."""
    import torch

    out = []
    for name, seed, shapes in cases:
        gen = torch.Generator().manual_seed(seed)
        calls = []
        for shape in shapes:
            values = torch.randn(shape, generator=gen, dtype=torch.float32).flatten().tolist()
            calls.append({'shape': shape, 'values': [float(f'{v:.9g}') for v in values]})
        out.append({'name': name, 'seed': str(seed), 'calls': calls})
    info = torch.__config__.show()
    capability = info.split('CPU capability usage:')[1].split()[0] if 'CPU capability usage:' in info else '?'
    return {'torch': torch.__version__, 'capability': capability, 'cases': out}


def in_child(capability, which):
    """One torch process at a time: each capability is a separate, sequential child."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    done = subprocess.run([sys.executable, __file__, '--child', which], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--child':
        cases = avx2_cases() if sys.argv[2] == 'avx2' else scalar_cases()
        json.dump(run_cases(cases), sys.stdout)
        return
    root = Path(__file__).resolve().parents[2]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else root / 'tests' / 'fixtures' / 'torch-randn.json'
    avx2 = in_child('avx2', 'avx2')
    scalar = in_child('default', 'scalar')
    if avx2['capability'] != 'AVX2':
        sys.exit(f'expected the AVX2 kernel, torch reports {avx2["capability"]} (needs an x86-64 CPU with AVX2)')
    about = ('torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32) on the CPU; '
             'made by tools/torch-reference/make_randn_reference.py; values to 9 significant digits')
    # One case per line keeps the file small but still readable in a diff.
    kernels = []
    for kernel, result in (('avx2', avx2), ('scalar', scalar)):
        body = ',\n'.join(json.dumps(case, separators=(',', ':')) for case in result['cases'])
        kernels.append(f'  "{kernel}": {{"capability": {json.dumps(result["capability"])}, "cases": [\n{body}\n  ]}}')
    text = (f'{{\n "about": {json.dumps(about)},\n "torch": {json.dumps(avx2["torch"])},\n'
            f' "kernels": {{\n' + ',\n'.join(kernels) + '\n }\n}\n')
    json.loads(text)  # refuse to write a malformed file
    target.write_text(text)
    print(f'wrote {target} ({len(text)} bytes, torch {avx2["torch"]})')


if __name__ == '__main__':
    main()
