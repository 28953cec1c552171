import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { describeNodes } from '../engine/index.ts';
import { makeEngine, tempDir } from './helpers.ts';

interface Ran { code: number; stdout: string; stderr: string }

function cli(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/sanagraph.js', ...args], { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('sanagraph CLI', () => {
  it('runs a workflow, prints progress and the files written, and never overwrites', async () => {
    const out = tempDir();
    const first = await cli('run', 'workflows/hello.json', '--output-dir', out);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout.split('\n').filter(Boolean), [path.join(out, 'hello_00001.txt'), 'node 5 (ShowText): The answer is 42.']);
    assert.equal(readFileSync(path.join(out, 'hello_00001.txt'), 'utf8'), 'The answer is 42.');
    assert.match(first.stderr, /running 2 \(MathInt\)\n/);
    assert.match(first.stderr, /done: 5 node\(s\) ran/);
    const second = await cli('run', 'workflows/hello.json', '--output-dir', out, '--set', '1.value=7', '--set', '3.template=Now {}!');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.split('\n')[0], path.join(out, 'hello_00002.txt'));
    assert.equal(readFileSync(path.join(out, 'hello_00001.txt'), 'utf8'), 'The answer is 42.');
    assert.equal(readFileSync(path.join(out, 'hello_00002.txt'), 'utf8'), 'Now 49!');
  });

  it('prints events as JSON lines with --json', async () => {
    const result = await cli('run', 'workflows/hello.json', '--output-dir', tempDir(), '--json');
    assert.equal(result.code, 0, result.stderr);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    assert.equal(events[0].type, 'execution_start');
    assert.equal(events.at(-1)!.type, 'execution_success');
    assert.deepEqual(events.filter((e) => e.type === 'executing').map((e) => e.data.node).sort(), ['1', '2', '3', '4', '5']);
    const saved = events.find((e) => e.type === 'executed' && e.data.node === '4')!;
    assert.deepEqual(saved.data.output, { text: ['The answer is 42.'], files: [{ filename: 'hello_00001.txt', subfolder: '', type: 'output' }] });
  });

  it('runs a ComfyUI API workflow into a subfolder', async () => {
    const out = tempDir();
    const result = await cli('run', 'tests/fixtures/hello.comfy-api.json', '--output-dir', out);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(path.join(out, 'comfy', 'area_00001.txt'), 'utf8'), 'r^2 = 6.25');
  });

  it('lists every problem of an invalid workflow and exits 1', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ format: 'sanagraph/workflow@1', nodes: {
      1: { type: 'MathInt', inputs: { a: 'six', b: 7, op: 'pow' } },
      2: { type: 'ShowTxt', inputs: { text: ['1', 0] } },
      3: { type: 'ShowText', inputs: { text: ['1', 0] } },
    } }));
    const result = await cli('run', file, '--output-dir', dir);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, [
      'The workflow has 4 problems:',
      '  - node 1 (MathInt), input "a": a must be an integer, got "six"',
      '  - node 1 (MathInt), input "op": op must be one of "add", "subtract", "multiply", "divide", "modulo", "min", "max", got "pow"',
      '  - node 2 (ShowTxt): unknown node type "ShowTxt" (did you mean "ShowText"?)',
      '  - node 3 (ShowText), input "text": expects STRING but is linked to output 0 ("INT") of node 1 (MathInt), which is INT',
      '',
    ].join('\n'));
    const validate = await cli('validate', file);
    assert.equal(validate.code, 1);
    assert.match(validate.stderr, /The workflow has 4 problems/);
  });

  it('says what is wrong with a file that is not a workflow, and with a bad --set', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "format": ');
    const notJson = await cli('run', file);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /broken\.json is not valid JSON/);
    const badSet = await cli('run', 'workflows/hello.json', '--set', '42.value=1');
    assert.equal(badSet.code, 1);
    assert.match(badSet.stderr, /--set 42\.value=1: the workflow has no node "42" \(its nodes: 1, 2, 3, 4, 5\)/);
    const missing = await cli('run', path.join(dir, 'nope.json'));
    assert.match(missing.stderr, /cannot read workflow .*nope\.json/);
  });

  it('reports a failing node and exits 1', async () => {
    const result = await cli('run', 'workflows/hello.json', '--set', '2.op=divide', '--set', '2.b=0', '--output-dir', tempDir());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error in node 2 \(MathInt\): cannot divide by zero \(b is 0\)/);
  });

  it('validates a good workflow', async () => {
    const result = await cli('validate', 'workflows/hello.json');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'workflows/hello.json is valid: 5 nodes, 5 would run\n');
  });

  it('prints the node catalog, with custom nodes, as /object_info describes it', async () => {
    const result = await cli('nodes', '--json', '--custom-nodes', 'examples/custom-nodes');
    assert.equal(result.code, 0, result.stderr);
    const catalog = JSON.parse(result.stdout) as Record<string, unknown>;
    const expected = describeNodes(makeEngine().registry);
    assert.deepEqual(catalog.MathInt, JSON.parse(JSON.stringify(expected.MathInt)));
    assert.ok(catalog.ReverseText);
    const text = await cli('nodes');
    assert.match(text.stdout, /utils\/math\n {2}MathInt\(a, b, op\) → INT:INT\n/);
  });
});
