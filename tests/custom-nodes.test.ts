import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DuplicateNodeTypeError, loadCustomNodes } from '../engine/index.ts';
import { makeEngine, tempDir, workflow } from './helpers.ts';

const plainNode = (type: string) => `{
  type: ${JSON.stringify(type)}, category: 'test', description: 'plain JS node',
  inputs: { text: { kind: 'socket', type: 'STRING', optional: false } },
  outputs: [{ name: 'text', type: 'STRING' }],
  run: ({ text }) => [text + '!'],
}`;

function fixtureDir(files: Record<string, string>): string {
  const dir = tempDir('sanagraph-custom-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('custom node packages', () => {
  it('loads the example package and runs its nodes', async () => {
    const engine = makeEngine();
    const report = await loadCustomNodes(engine.registry, ['examples/custom-nodes']);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.loaded.map((l) => [path.basename(l.path), l.types]), [['text-tools', ['ReverseText', 'RepeatText', 'ChangeCase']]]);
    const result = await engine.execute(workflow({
      1: { type: 'PrimitiveString', inputs: { value: 'abc' } },
      2: { type: 'ReverseText', inputs: { text: ['1', 0] } },
      3: { type: 'RepeatText', inputs: { text: ['2', 0], times: 3, separator: '+' } },
      4: { type: 'ChangeCase', inputs: { text: ['3', 0], to: 'upper' } },
      5: { type: 'ShowText', inputs: { text: ['4', 0] } },
    }));
    assert.deepEqual(result.outputs['5'], { text: ['CBA+CBA+CBA'] });
  });

  it('loads single-file packages, folders with package.json, and TypeScript', async () => {
    const dir = fixtureDir({
      'one.mjs': `export default [${plainNode('OneFile')}];`,
      'pkg/package.json': JSON.stringify({ name: 'pkg', type: 'module', main: 'lib/main.js' }),
      'pkg/lib/main.js': `export const nodes = [${plainNode('FromPackageJson')}];`,
      'typed.mts': `const n: { type: string } = ${plainNode('FromTypeScript')}; export default [n];`,
      'README.md': 'not a package',
    });
    const engine = makeEngine();
    const report = await loadCustomNodes(engine.registry, [dir]);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.loaded.flatMap((l) => l.types).sort(), ['FromPackageJson', 'FromTypeScript', 'OneFile']);
    const result = await engine.execute(workflow({ 1: { type: 'FromTypeScript', inputs: { text: 'hi' } }, 2: { type: 'ShowText', inputs: { text: ['1', 0] } } }));
    assert.deepEqual(result.outputs['2'], { text: ['hi!'] });
  });

  it('reports a broken package with its path and error, skips it, and loads the rest', async () => {
    const dir = fixtureDir({
      'a-syntax.mjs': 'export default [ this is not javascript',
      'b-throws.mjs': 'throw new Error("cannot start: missing model");',
      'c-no-array.mjs': 'export const something = 1;',
      'd-bad-def.mjs': 'export default [{ type: "NoRun", category: "x", description: "", inputs: {}, outputs: [] }];',
      'e-empty-dir/notes.txt': 'no entry point here',
      'f-good.mjs': `export default [${plainNode('StillLoaded')}];`,
    });
    const engine = makeEngine();
    const report = await loadCustomNodes(engine.registry, [dir]);
    const failed = Object.fromEntries(report.failed.map((f) => [path.basename(f.path), f.error]));
    assert.deepEqual(Object.keys(failed), ['a-syntax.mjs', 'b-throws.mjs', 'c-no-array.mjs', 'd-bad-def.mjs', 'e-empty-dir']);
    assert.match(failed['b-throws.mjs'], /cannot start: missing model/);
    assert.match(failed['c-no-array.mjs'], /exports no node definitions/);
    assert.match(failed['d-bad-def.mjs'], /invalid node definition "NoRun": run: /);
    assert.match(failed['e-empty-dir'], /no entry point/);
    assert.ok(report.failed.every((f) => path.isAbsolute(f.path) && f.path.startsWith(dir)));
    assert.deepEqual(report.loaded.map((l) => l.types), [['StillLoaded']]);
    assert.ok(engine.registry.get('StillLoaded'));
    assert.ok(!engine.registry.get('NoRun'));
  });

  it('rejects a duplicate node type, naming both sources', async () => {
    const dir = fixtureDir({
      'first.mjs': `export default [${plainNode('Shared')}];`,
      'second.mjs': `export default [${plainNode('Unique')}, ${plainNode('Shared')}];`,
      'third.mjs': `export default [${plainNode('PrimitiveInt')}];`,
    });
    const engine = makeEngine();
    const report = await loadCustomNodes(engine.registry, [dir]);
    const failed = Object.fromEntries(report.failed.map((f) => [path.basename(f.path), f.error]));
    assert.equal(failed['second.mjs'], `node type "Shared" from ${path.join(dir, 'second.mjs')} is already defined by ${path.join(dir, 'first.mjs')}`);
    assert.equal(failed['third.mjs'], `node type "PrimitiveInt" from ${path.join(dir, 'third.mjs')} is already defined by builtin:nodes/primitives.ts`);
    assert.ok(!engine.registry.get('Unique'), 'a package with a duplicate is rejected whole');
    assert.throws(() => engine.registry.register([engine.registry.get('Shared')!.def], 'again'), DuplicateNodeTypeError);
  });

  it('reports a custom nodes directory that does not exist', async () => {
    const report = await loadCustomNodes(makeEngine().registry, ['/nonexistent/custom_nodes']);
    assert.deepEqual(report.failed, [{ path: '/nonexistent/custom_nodes', error: 'custom nodes directory does not exist' }]);
  });
});
