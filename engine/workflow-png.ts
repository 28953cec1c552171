/**
 * Reading back the workflow that SaveImage embeds in a PNG (nodes/png.ts writes it). No Node or
 * DOM APIs: the editor uses it for dropped images, the tests for saved ones.
 */

/** The `workflow` text chunk of a PNG written by SaveImage (tEXt, or uncompressed iTXt). */
export function workflowFromPng(bytes: Uint8Array): unknown {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => bytes[i] === b)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder();
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const nul = data.indexOf(0);
      const key = latin1.decode(data.subarray(0, nul));
      if (key === 'workflow') {
        if (type === 'tEXt') return JSON.parse(latin1.decode(data.subarray(nul + 1)));
        if (data[nul + 1] !== 0) throw new Error('the workflow chunk is compressed (not written by sanagraph)');
        let p = nul + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        return JSON.parse(utf8.decode(data.subarray(p)));
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  throw new Error('this PNG has no embedded workflow (images saved by SaveImage have one)');
}
