"""Exports the trained demo model to ONNX (opset 16) with its tokenizer and pipeline.json.

Usage: /usr/bin/python3 export.py --work .work --out .. [--scheduler flow_dpmpp_2m --shift 3.0]
Also writes parity cases (inputs and torch outputs as .npy, plus manifest.json) to --parity for verify_onnx.mts.
"""
import argparse
import json
import os

import numpy as np
import onnx
import torch

import common as C

OPSET = 16


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', default=os.path.join(here, '.work'))
    ap.add_argument('--out', default=os.path.dirname(here))
    ap.add_argument('--parity', default='/tmp/sg-demo-parity')
    ap.add_argument('--scheduler', default=C.DEFAULT_SCHEDULER)
    ap.add_argument('--shift', type=float, default=C.DEFAULT_SHIFT)
    args = ap.parse_args()
    C.setup_torch(0)
    os.makedirs(args.parity, exist_ok=True)
    model, ae, sf = C.load_trained(args.work)
    te = model.text.eval()

    paths = {k: os.path.join(args.out, f) for k, f in
             (('te', 'text_encoder.onnx'), ('dit', 'transformer.onnx'), ('vae', 'vae_decoder.onnx'))}
    with torch.no_grad():
        ids, mask = C.tokenize_batch(['a large red circle in the center on a blue background', ''])
        torch.onnx.export(te, (ids, mask), paths['te'], opset_version=OPSET, input_names=['input_ids', 'attention_mask'],
                          output_names=['last_hidden_state'],
                          dynamic_axes={'input_ids': {0: 'batch', 1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'},
                                        'last_hidden_state': {0: 'batch', 1: 'sequence'}})
        y = te(ids, mask)
        x = torch.randn(2, C.LATENT_CH, 4, 4)
        t = torch.tensor([999.0, 500.0])
        torch.onnx.export(model.dit, (x, y, mask.float(), t), paths['dit'], opset_version=OPSET,
                          input_names=['hidden_states', 'encoder_hidden_states', 'encoder_attention_mask', 'timestep'],
                          output_names=['velocity'],
                          dynamic_axes={'hidden_states': {0: 'batch', 2: 'height', 3: 'width'},
                                        'encoder_hidden_states': {0: 'batch', 1: 'sequence'},
                                        'encoder_attention_mask': {0: 'batch', 1: 'sequence'},
                                        'timestep': {0: 'batch'}, 'velocity': {0: 'batch', 2: 'height', 3: 'width'}})
        torch.onnx.export(ae.decoder, (torch.randn(2, C.LATENT_CH, 4, 4),), paths['vae'], opset_version=OPSET,
                          input_names=['latent'], output_names=['sample'],
                          dynamic_axes={'latent': {0: 'batch', 2: 'height', 3: 'width'},
                                        'sample': {0: 'batch', 2: 'height', 3: 'width'}})
    for p in paths.values():
        onnx.checker.check_model(onnx.load(p))
        print(f'{os.path.basename(p)}: {os.path.getsize(p)/1e6:.2f} MB, checker OK')

    with open(os.path.join(args.out, 'tokenizer.json'), 'w') as f:
        json.dump(C.tokenizer_json(), f, indent=1)
    with open(os.path.join(args.out, 'tokenizer_config.json'), 'w') as f:
        json.dump(C.tokenizer_config_json(), f, indent=1)
    pipeline = {
        'format': 'sanagraph/pipeline@1', 'name': 'demo',
        'transformer': {'onnx': 'transformer.onnx', 'latentChannels': C.LATENT_CH, 'timestepScale': 1.0},
        'vae': {'onnx': 'vae_decoder.onnx', 'scalingFactor': round(sf, 6), 'spatialCompression': 32},
        'textEncoder': {'onnx': 'text_encoder.onnx', 'tokenizer': 'tokenizer.json', 'maxSequenceLength': C.MAX_LEN,
                        'complexHumanInstruction': None},
        'defaults': {'scheduler': args.scheduler, 'steps': 20, 'guidanceScale': 4.5, 'flowShift': args.shift,
                     'width': C.RES, 'height': C.RES},
    }
    with open(os.path.join(args.out, 'pipeline.json'), 'w') as f:
        json.dump(pipeline, f, indent=2)
        f.write('\n')
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in
                ('text_encoder.onnx', 'transformer.onnx', 'vae_decoder.onnx', 'tokenizer.json', 'tokenizer_config.json',
                 'pipeline.json'))
    print(f'shipped files: {total/1e6:.2f} MB in all')

    # ------------------------------------------------------------ parity cases for onnxruntime-node
    cases = []

    def save(name, model_file, inputs, outputs):
        rec = {'name': name, 'model': os.path.abspath(model_file), 'inputs': {}, 'outputs': {}}
        for k, v in inputs.items():
            fn = f'{name}.in.{k}.npy'
            np.save(os.path.join(args.parity, fn), v.numpy())
            rec['inputs'][k] = fn
        for k, v in outputs.items():
            fn = f'{name}.out.{k}.npy'
            np.save(os.path.join(args.parity, fn), v.numpy())
            rec['outputs'][k] = fn
        cases.append(rec)

    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        texts = ['a small purple triangle on the left on a yellow background', '']
        for b, L in ((1, 16), (2, 16), (2, 12)):
            ids, mask = C.tokenize_batch(texts[:b], L)
            save(f'te-b{b}-l{L}', paths['te'], {'input_ids': ids, 'attention_mask': mask},
                 {'last_hidden_state': te(ids, mask)})
        for b, (h, w) in ((1, (4, 4)), (2, (4, 4)), (2, (6, 8))):
            ids, mask = C.tokenize_batch(texts[:b])
            y = te(ids, mask)
            x = torch.randn(b, C.LATENT_CH, h, w, generator=g)
            t = torch.tensor([937.0, 42.5][:b])
            save(f'dit-b{b}-{h}x{w}', paths['dit'], {'hidden_states': x, 'encoder_hidden_states': y,
                                                    'encoder_attention_mask': mask.float(), 'timestep': t},
                 {'velocity': model.dit(x, y, mask.float(), t)})
        for b, (h, w) in ((1, (4, 4)), (2, (4, 4)), (1, (6, 8))):
            z = torch.randn(b, C.LATENT_CH, h, w, generator=g) * 2.5
            save(f'vae-b{b}-{h}x{w}', paths['vae'], {'latent': z}, {'sample': ae.decoder(z)})
    # reference images for the engine end-to-end check: same prompt, seed, scheduler as the workflow
    e2e = []
    prompts = ['a large red circle in the center on a blue background', 'a small yellow square on the left on a black background',
               'a white triangle at the top on a green background', 'a large orange square at the bottom on a purple background']
    for i, p in enumerate(prompts):
        seed = 42 + i
        z = C.sample(model, [p], [seed], args.scheduler, 20, 4.5, args.shift)
        with torch.no_grad():
            img = C.to_uint8(ae.decoder(z / sf))[0]
        np.save(os.path.join(args.parity, f'e2e-{i}.npy'), img)
        e2e.append({'prompt': p, 'seed': seed, 'image': f'e2e-{i}.npy'})
    tok_prompts = ['a large red circle in the center on a blue background', '',
                   'An   Large RED circle, in the Center on a blue background.', 'a zebra', 'an orange triangle',
                   '  A small, Purple TRIANGLE at the top, on a white background!  ', 'please draw a red square',
                   'a red circle in the centre on a green background', 'a black square in the middle on a white background',
                   'a   green\tsquare;on the left...on a red background', 'a 3 medium blue circles',
                   'a large yellow triangle at the bottom on a purple background with extra words at the end of it']
    tok_cases = [{'text': p, 'ids': ids, 'mask': mask} for p in tok_prompts for ids, mask in [C.tokenize(p)]]
    with open(os.path.join(args.parity, 'manifest.json'), 'w') as f:
        json.dump({'modelDir': os.path.abspath(args.out), 'cases': cases, 'e2e': e2e, 'tokenizer': tok_cases, 'maxLength': C.MAX_LEN, 'scheduler': args.scheduler, 'shift': args.shift}, f, indent=1)
    print(f'parity cases written to {args.parity}')


if __name__ == '__main__':
    main()
