/**
 * Reused Float32Arrays. Fresh memory costs a page fault per 4 KiB on first touch (~1.7 µs each
 * on our VM, several times that while ONNX Runtime's threads fault too), and every new
 * ArrayBuffer adds to the external memory that drives V8's garbage collections. A tiny 20-step
 * run made ~2,000 page faults; the arrays a sampler step needs are the same few sizes every step.
 *
 * Two ways in:
 * - `withScratch` lends an array to one call (a model input stacked from other tensors) and
 *   takes it back when the call settles, so overlapping calls never share one;
 * - `newArray` hands out an array for good (a kernel's output); the engine gives such arrays
 *   back with `recycle` once nothing can reach them any more (the results of a transient
 *   expansion, see SubgraphBuilder), and only arrays that came from `newArray`.
 */
const MAX_FREE_BYTES = 256 * 1024 ** 2;

/** Free arrays by length; lengths in least recently used order. */
const free = new Map<number, Float32Array[]>();
let freeBytes = 0;
/** Arrays handed out by newArray: the only ones recycle takes back. */
const pooled = new WeakSet<Float32Array>();

/** Told of every array the pool hands out again: its contents are about to change. */
const takeListeners: ((array: Float32Array) => void)[] = [];

/** Calls `listener` with each pooled array as it is handed out again (see elementwise's resident copies). */
export function onTake(listener: (array: Float32Array) => void): void {
  takeListeners.push(listener);
}

function take(length: number): Float32Array {
  const array = free.get(length)?.pop();
  if (!array) return new Float32Array(length);
  freeBytes -= array.byteLength;
  for (const listener of takeListeners) listener(array);
  return array;
}

function giveBack(array: Float32Array): void {
  const list = free.get(array.length) ?? [];
  list.push(array);
  free.delete(array.length); // re-inserted: most recently used
  free.set(array.length, list);
  freeBytes += array.byteLength;
  if (freeBytes > MAX_FREE_BYTES) trim();
}

/** Drops the least recently used lengths until the pool is within its budget. */
function trim(): void {
  for (const [length, arrays] of free) {
    if (freeBytes <= MAX_FREE_BYTES) break;
    free.delete(length);
    for (const a of arrays) freeBytes -= a.byteLength;
  }
}

/**
 * Lends `use` a Float32Array of `length` elements (contents undefined) until the promise it
 * returns settles. `use` must not keep the array, or anything viewing it, beyond that.
 */
export function withScratch<T>(length: number, use: (array: Float32Array) => Promise<T>): Promise<T> {
  let array: Float32Array;
  let using: Promise<T>;
  try {
    array = take(length);
  } catch (e) {
    return Promise.reject(e); // e.g. a length no array can have
  }
  try {
    using = use(array);
  } catch (e) {
    giveBack(array);
    return Promise.reject(e);
  }
  return using.then((value) => { giveBack(array); return value; }, (e: unknown) => { giveBack(array); throw e; });
}

/** A Float32Array of `length` elements, contents undefined, the caller's to keep. */
export function newArray(length: number): Float32Array {
  const array = take(length);
  pooled.add(array);
  return array;
}

/** Whether `array` came from `newArray` (and was not recycled since). */
export function isPooled(array: ArrayBufferView): boolean {
  return pooled.has(array as Float32Array);
}

/**
 * Takes back arrays from `newArray` that nothing references any more; anything else passed in
 * (an array ONNX Runtime allocated, a view) is left alone. Each array counts once.
 */
export function recycle(arrays: Iterable<ArrayBufferView>): void {
  for (const array of arrays) {
    if (!pooled.delete(array as Float32Array)) continue;
    giveBack(array as Float32Array);
  }
}
