import type { NodeRegistry } from '../engine/registry.ts';
import dcaeDecode from './dcae-decode.ts';
import ditStep from './dit-step.ts';
import guidance from './guidance.ts';
import imageIo from './image-io.ts';
import latentInit from './latent-init.ts';
import { loaderNodes } from './loaders.ts';
import primitives from './primitives.ts';
import sampler from './sampler.ts';
import { createServices, type NodeServices } from './services.ts';
import { tensorIoNodes } from './tensor-io.ts';
import textEncode from './text-encode.ts';
import { CONDITIONING, DCAE, IMAGE, LATENT, SANA_MODEL, TEXT_ENCODER } from './types.ts';

export { createServices } from './services.ts';
export type { NodeServices, ServiceOptions } from './services.ts';

/** The built-in node families, one module each. Model nodes use `services` (the ONNX runtime, folders). */
export function builtinFamilies(services: NodeServices) {
  return [
    { source: 'builtin:nodes/primitives.ts', nodes: primitives },
    { source: 'builtin:nodes/loaders.ts', nodes: loaderNodes(services) },
    { source: 'builtin:nodes/text-encode.ts', nodes: textEncode },
    { source: 'builtin:nodes/latent-init.ts', nodes: latentInit },
    { source: 'builtin:nodes/dit-step.ts', nodes: ditStep },
    { source: 'builtin:nodes/guidance.ts', nodes: guidance },
    { source: 'builtin:nodes/sampler.ts', nodes: sampler },
    { source: 'builtin:nodes/dcae-decode.ts', nodes: dcaeDecode },
    { source: 'builtin:nodes/image-io.ts', nodes: imageIo },
    { source: 'builtin:nodes/tensor-io.ts', nodes: tensorIoNodes(services) },
  ];
}

/** Registers every built-in node; returns the services they use (created with defaults if not given). */
export function registerBuiltins(registry: NodeRegistry, services: NodeServices = createServices()): NodeServices {
  for (const t of [LATENT, CONDITIONING, IMAGE, SANA_MODEL, TEXT_ENCODER, DCAE]) registry.registerDataType(t);
  for (const family of builtinFamilies(services)) registry.register(family.nodes, family.source);
  return services;
}
