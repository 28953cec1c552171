import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { reserveFile } from '../engine/index.ts';
import { tempDir } from './helpers.ts';

describe('output file names', () => {
  it('numbers files <prefix>_00001.<ext> upwards and skips names that exist', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'img_00003.png'), 'made by someone else');
    const a = reserveFile(dir, 'img', 'png', 'output');
    const b = reserveFile(dir, 'img', 'png', 'output');
    assert.deepEqual([a.filename, b.filename], ['img_00004.png', 'img_00005.png']);
    assert.ok(existsSync(a.path) && existsSync(b.path));
    assert.equal(reserveFile(dir, 'img', 'txt', 'output').filename, 'img_00001.txt');
  });

  it('creates subfolders named in the prefix', () => {
    const dir = tempDir();
    const f = reserveFile(dir, 'portraits/2026/me', 'png', 'output');
    assert.deepEqual([f.subfolder, f.filename, f.path], ['portraits/2026', 'me_00001.png', path.join(dir, 'portraits/2026/me_00001.png')]);
  });

  it('never hands out the same name twice, even when asked many times at once', async () => {
    const dir = tempDir();
    const names = await Promise.all(Array.from({ length: 200 }, async () => reserveFile(dir, 'x', 'png', 'output').filename));
    assert.equal(new Set(names).size, 200);
  });

  it('refuses prefixes that would escape the folder', () => {
    const dir = tempDir();
    for (const bad of ['../evil', 'a/../../b', '/etc/passwd', '', 'dir/', 'a\0b', '..\\x', 'C:evil']) {
      assert.throws(() => reserveFile(dir, bad, 'png', 'output'), /must be a relative name/, bad);
    }
    assert.throws(() => reserveFile(dir, 'ok', 'p/ng', 'output'), /extension/);
  });
});
