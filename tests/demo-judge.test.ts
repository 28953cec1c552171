import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANCHORS, judge, PALETTE } from './demo-judge.ts';

/** Draws one hard-edged shape the way the demo's training data does (half-size r of the width). */
function draw(shape: string, fg: string, bg: string, position: string, r = 0.13, size = 128): Uint8Array {
  const img = new Uint8Array(size * size * 3);
  const [cx, cy] = ANCHORS[position];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = (x + 0.5) / size - cx;
      const dy = (y + 0.5) / size - cy;
      const inside = shape === 'circle' ? dx * dx + dy * dy < r * r
        : shape === 'square' ? Math.abs(dx) < r && Math.abs(dy) < r
          : dy > -r && dy < r && Math.abs(dx) < (dy + r) / 2;
      img.set(PALETTE[inside ? fg : bg], (y * size + x) * 3);
    }
  }
  return img;
}

describe('the demo image judge', () => {
  it('names colours, position and shape of drawn shapes', () => {
    for (const [shape, fg, bg, position] of [
      ['circle', 'red', 'blue', 'in the center'], ['square', 'yellow', 'black', 'on the left'],
      ['triangle', 'white', 'purple', 'at the bottom'], ['circle', 'orange', 'green', 'at the top'],
      ['square', 'black', 'white', 'on the right'],
    ]) {
      assert.deepEqual(judge(draw(shape, fg, bg, position), 128, 128), { fg, bg, position, shape });
    }
  });

  it('reports no foreground on a flat image', () => {
    const flat = new Uint8Array(64 * 64 * 3).fill(20);
    assert.deepEqual(judge(flat, 64, 64), { bg: 'black', fg: null, position: null, shape: null });
  });
});
