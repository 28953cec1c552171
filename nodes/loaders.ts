import { statSync } from 'node:fs';
import { choice, defineNode, InputError, string } from '../engine/index.ts';
import { DeviceUnavailableError, type LoadedModel } from '../engine/onnx/model-manager.ts';
import { DEVICES, type Device } from '../engine/onnx/providers.ts';
import type { TensorInfo } from '../engine/onnx/protocol.ts';
import { readPipelineFolder, type PipelineSpec } from './pipeline-folder.ts';
import { resolveUserPath, type NodeServices } from './services.ts';
import { TextTokenizer } from './tokenizer.ts';
import { DCAE, SANA_MODEL, TEXT_ENCODER, type DcaeModel, type ModelHandle, type SanaModel, type TextEncoderModel } from './types.ts';

/** Finds an input or output by its accepted names and checks its rank; says exactly what is wrong. */
function port(list: TensorInfo[], names: string[], rank: number, what: string, file: string): TensorInfo {
  const found = list.find((t) => names.includes(t.name));
  const have = list.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ') || 'none';
  if (!found) throw new Error(`${file} has no ${what} named ${names.map((n) => `"${n}"`).join(' or ')} (it has: ${have})`);
  if (found.shape.length !== rank) {
    throw new Error(`${file}: ${what} "${found.name}" has rank ${found.shape.length} [${found.shape.join(', ')}], expected rank ${rank}`);
  }
  return found;
}

function firstOutput(model: LoadedModel, rank: number, preferred: string[], what: string): TensorInfo {
  const out = model.outputs.find((o) => preferred.includes(o.name)) ?? model.outputs[0];
  if (!out) throw new Error(`${model.path} has no outputs`);
  return port([out], [out.name], rank, what, model.path);
}

/** A fixed dimension must match; a symbolic (dynamic) one matches anything. */
function checkDim(info: TensorInfo, axis: number, expected: number, what: string, file: string): void {
  const dim = info.shape[axis];
  if (typeof dim === 'number' && dim !== expected) {
    throw new Error(`${file}: ${what} "${info.name}" has ${dim} channels but the pipeline says ${expected}`);
  }
}

function handle(services: NodeServices, session: LoadedModel): ModelHandle {
  return {
    path: session.path,
    device: session.device,
    session,
    run: (feeds) => services.models.run(session, feeds).then((result) => result.outputs),
    resident: services.models.device(session),
  };
}

async function loadTransformer(services: NodeServices, spec: PipelineSpec, device: Device): Promise<SanaModel> {
  // Its outputs stay on the device where they can: the Sampler then keeps its loop there.
  const session = await services.models.load(spec.transformer.onnx, device, { outputs: 'device' });
  const file = spec.transformer.onnx;
  const hidden = port(session.inputs, ['hidden_states', 'sample'], 4, 'latent input', file);
  const encoder = port(session.inputs, ['encoder_hidden_states'], 3, 'text embeddings input', file);
  const mask = port(session.inputs, ['encoder_attention_mask'], 2, 'text mask input', file);
  const timestep = port(session.inputs, ['timestep'], 1, 'timestep input', file);
  const output = firstOutput(session, 4, ['out_hidden_states', 'out_sample', 'sample'], 'velocity output');
  checkDim(hidden, 1, spec.transformer.latentChannels, 'latent input', file);
  const width = encoder.shape[2];
  return {
    pipeline: spec.name, model: handle(services, session), latentChannels: spec.transformer.latentChannels,
    timestepScale: spec.transformer.timestepScale,
    captionChannels: typeof width === 'number' ? width : spec.transformer.captionChannels,
    io: { hidden: hidden.name, encoder: encoder.name, mask: mask.name, timestep: timestep.name, output: output.name },
    defaults: spec.defaults,
  };
}

async function loadVae(services: NodeServices, spec: PipelineSpec, device: Device): Promise<DcaeModel> {
  const session = await services.models.load(spec.vae.onnx, device);
  const latent = port(session.inputs, ['latent', 'latent_sample'], 4, 'latent input', spec.vae.onnx);
  checkDim(latent, 1, spec.vae.latentChannels, 'latent input', spec.vae.onnx);
  const output = firstOutput(session, 4, ['sample', 'image'], 'image output');
  return {
    pipeline: spec.name, model: handle(services, session), scalingFactor: spec.vae.scalingFactor,
    spatialCompression: spec.vae.spatialCompression, latentChannels: spec.vae.latentChannels,
    io: { latent: latent.name, output: output.name },
  };
}

async function loadTextEncoder(services: NodeServices, spec: PipelineSpec, device: Device): Promise<TextEncoderModel> {
  const te = spec.textEncoder;
  if (!te) return { pipeline: spec.name, maxSequenceLength: 0, complexHumanInstruction: null, io: { ids: '', mask: '', output: '' } };
  const [session, tokenizer] = await Promise.all([services.models.load(te.onnx, device), TextTokenizer.load(te.tokenizer)]);
  const ids = port(session.inputs, ['input_ids'], 2, 'token ids input', te.onnx);
  const mask = port(session.inputs, ['attention_mask'], 2, 'attention mask input', te.onnx);
  const output = firstOutput(session, 3, ['last_hidden_state'], 'hidden state output');
  return {
    pipeline: spec.name, model: handle(services, session), tokenizer,
    maxSequenceLength: te.maxSequenceLength, complexHumanInstruction: te.complexHumanInstruction,
    io: { ids: ids.name, mask: mask.name, output: output.name },
  };
}

export function resolveModelPath(services: NodeServices, p: string): string {
  return resolveUserPath(services, services.modelsDir, p, 'path');
}

/** Changes when the folder's manifest or model files change (so a re-export is picked up). */
async function folderStamp(services: NodeServices, p: string): Promise<string> {
  try {
    const spec = await readPipelineFolder(resolveModelPath(services, p));
    const files = [spec.transformer.onnx, spec.vae.onnx, spec.textEncoder?.onnx, spec.textEncoder?.tokenizer].filter(Boolean) as string[];
    return JSON.stringify([spec, files.map((f) => { const s = statSync(f); return [s.size, s.mtimeMs]; })]);
  } catch (e) {
    return `unreadable: ${(e as Error).message}`;
  }
}

export function loaderNodes(services: NodeServices) {
  return [
    defineNode({
      type: 'LoadPipeline',
      displayName: 'Load Sana pipeline',
      category: 'sana/loaders',
      description: 'Loads a Sana model folder (ours with pipeline.json, or a Hugging Face optimum ONNX export) onto a device.',
      inputs: {
        path: string({ default: 'demo', tooltip: 'a folder under --models-dir, or an absolute path' }),
        device: choice(DEVICES, { default: 'auto', tooltip: 'auto tries cuda, then webgpu, then cpu' }),
      },
      outputs: [
        { name: 'model', type: SANA_MODEL },
        { name: 'text_encoder', type: TEXT_ENCODER },
        { name: 'vae', type: DCAE },
      ],
      isChanged: ({ path: p }) => (p === undefined ? '' : folderStamp(services, p)),
      run: async ({ path: p, device }) => {
        let spec: PipelineSpec;
        try {
          spec = await readPipelineFolder(resolveModelPath(services, p));
        } catch (e) {
          throw new InputError('path', (e as Error).message);
        }
        try {
          const [model, textEncoder, vae] = await Promise.all([
            loadTransformer(services, spec, device), loadTextEncoder(services, spec, device), loadVae(services, spec, device),
          ]);
          return [model, textEncoder, vae];
        } catch (e) {
          throw new InputError(e instanceof DeviceUnavailableError ? 'device' : 'path', (e as Error).message);
        }
      },
    }),
  ];
}
