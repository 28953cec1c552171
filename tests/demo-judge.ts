/**
 * A simple analyzer for the demo model's images (one shape on a flat background):
 * - background: the median colour of the border pixels, named by the nearest palette colour;
 * - foreground: the pixels further than 80 (RGB distance) from that median; their mean colour,
 *   named the same way;
 * - position: the nearest anchor to the foreground's centroid;
 * - shape: how much of its bounding box the foreground fills (square ≈ 1, circle ≈ π/4, triangle ≈ 1/2).
 * The palette and anchors are the training data's (models/demo/train/common.py).
 */
export const PALETTE: Record<string, [number, number, number]> = {
  red: [220, 20, 20],
  green: [20, 160, 40],
  blue: [30, 70, 230],
  yellow: [250, 230, 30],
  purple: [140, 40, 190],
  orange: [255, 140, 0],
  white: [245, 245, 245],
  black: [20, 20, 20],
};

export const ANCHORS: Record<string, [number, number]> = {
  'on the left': [0.2, 0.5],
  'on the right': [0.8, 0.5],
  'at the top': [0.5, 0.2],
  'at the bottom': [0.5, 0.8],
  'in the center': [0.5, 0.5],
};

export interface Judgement { bg: string; fg: string | null; position: string | null; shape: string | null }

function nearest<T extends number[]>(table: Record<string, T>, value: number[]): string {
  let best = '';
  let bestDistance = Infinity;
  for (const [name, ref] of Object.entries(table)) {
    const d = ref.reduce((sum, r, i) => sum + (r - value[i]) ** 2, 0);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `rgb`: 8-bit pixels, row-major, 3 channels. */
export function judge(rgb: Uint8Array, width: number, height: number): Judgement {
  const at = (x: number, y: number) => (y * width + x) * 3;
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(at(x, 0), at(x, height - 1));
  for (let y = 1; y < height - 1; y++) border.push(at(0, y), at(width - 1, y));
  const bgColour = [0, 1, 2].map((c) => median(border.map((i) => rgb[i + c])));
  const result: Judgement = { bg: nearest(PALETTE, bgColour), fg: null, position: null, shape: null };

  let n = 0;
  const sum = [0, 0, 0];
  let sx = 0;
  let sy = 0;
  let [minX, minY, maxX, maxY] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = at(x, y);
      const d = Math.hypot(rgb[i] - bgColour[0], rgb[i + 1] - bgColour[1], rgb[i + 2] - bgColour[2]);
      if (d <= 80) continue;
      n++;
      for (let c = 0; c < 3; c++) sum[c] += rgb[i + c];
      sx += x + 0.5;
      sy += y + 0.5;
      [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
    }
  }
  if (n < 4) return result;
  result.fg = nearest(PALETTE, sum.map((s) => s / n));
  result.position = nearest(ANCHORS, [sx / n / width, sy / n / height]);
  const fill = n / ((maxX - minX + 1) * (maxY - minY + 1));
  result.shape = fill < 0.64 ? 'triangle' : fill < 0.89 ? 'circle' : 'square';
  return result;
}
