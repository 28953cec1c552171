import { defineConfig } from 'vite';

// The editor is built into editor/dist, which `sanagraph serve` serves at `/`.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
});
