#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader (no build step), which also
// lets custom node packages be written in TypeScript.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
