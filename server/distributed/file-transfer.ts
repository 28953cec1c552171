import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { UiOutput } from '../../engine/node.ts';
import { reserveFile } from '../../engine/output-files.ts';
import { FILE_TTL_S, keys, type FileRef } from './protocol.ts';

/**
 * Output files travel from worker to server through Redis, so no shared filesystem is needed.
 * The worker puts each file's bytes under a key of its own and marks the UI output entry with a
 * FileRef; the server stores the bytes in its output (or temp) folder under a name of its
 * choosing (never overwriting someone else's file) and rewrites the entry to that name.
 */
interface FileEntry { filename: string; subfolder?: string; type?: string; ref?: FileRef }
type Roots = { output: string; temp: string };

const isFileEntry = (e: unknown): e is FileEntry => typeof (e as FileEntry)?.filename === 'string';

function rootOf(roots: Roots, type: unknown): { root: string; type: 'output' | 'temp' } | undefined {
  if (type === undefined || type === 'output') return { root: roots.output, type: 'output' };
  if (type === 'temp') return { root: roots.temp, type: 'temp' };
  return undefined; // `input` entries name files the server already has
}

/** Maps each file entry of a UI output through `fn` (other entries pass unchanged). */
async function mapFiles(output: UiOutput, fn: (entry: FileEntry, slot: string) => Promise<FileEntry>, node: string): Promise<UiOutput> {
  const out: UiOutput = {};
  for (const [key, entries] of Object.entries(output)) {
    out[key] = await Promise.all(entries.map((e, i) => (isFileEntry(e) ? fn(e, `${node}.${key}.${i}`) : e)));
  }
  return out;
}

/** Worker side: sends the files of one attempt at a prompt. */
export class FileSender {
  /** Every key written, for the job result (the server deletes them once it has the files). */
  readonly keys: string[] = [];
  private readonly sent = new Map<string, FileRef>();

  constructor(private readonly redis: Redis, private readonly promptId: string, private readonly attempt: string, private readonly roots: Roots) {}

  /** A copy of `output` whose file entries carry FileRefs; each file is sent once. */
  attach(output: UiOutput, node: string): Promise<UiOutput> {
    return mapFiles(output, async (entry, slot) => {
      const where = rootOf(this.roots, entry.type);
      if (!where) return entry;
      const file = path.join(where.root, entry.subfolder ?? '', entry.filename);
      let ref = this.sent.get(file);
      if (!ref) {
        ref = { key: keys.file(this.promptId, this.attempt, slot), slot };
        await this.redis.set(ref.key, await readFile(file), 'EX', FILE_TTL_S);
        this.sent.set(file, ref);
        this.keys.push(ref.key);
      }
      return { ...entry, ref };
    }, node);
  }
}

interface StoredFile { key: string; filename: string; subfolder: string; type: 'output' | 'temp' }

/** `name_00012.png` → prefix `name`, ext `png`: the stored file keeps the name, with the server's next number. */
function splitName(filename: string): { prefix: string; ext: string } {
  const m = /^(.+?)(?:_\d{5,})?\.([A-Za-z0-9]+)$/.exec(filename);
  return m ? { prefix: m[1], ext: m[2] } : { prefix: filename.replace(/[^A-Za-z0-9_-]/g, '_') || 'file', ext: 'bin' };
}

/**
 * Server side: stores the files of a prompt's outputs. Idempotent per prompt and slot (the map
 * lives in Redis, so a restarted server knows it too): the same ref again gives the same file;
 * a retried attempt's file for a slot overwrites the file stored for that slot.
 */
export class FileReceiver {
  constructor(private readonly redis: Redis, private readonly roots: Roots) {}

  resolve(promptId: string, output: UiOutput, node: string): Promise<UiOutput> {
    return mapFiles(output, async (entry) => {
      if (!entry.ref) return entry;
      const { ref, ...rest } = entry;
      const stored = await this.store(promptId, ref, entry);
      return { ...rest, filename: stored.filename, subfolder: stored.subfolder, type: stored.type };
    }, node);
  }

  private async store(promptId: string, ref: FileRef, entry: FileEntry): Promise<StoredFile> {
    const mapKey = keys.stored(promptId);
    const known = await this.redis.hget(mapKey, ref.slot);
    const previous = known ? JSON.parse(known) as StoredFile : undefined;
    if (previous?.key === ref.key) return previous;
    const where = rootOf(this.roots, entry.type)!;
    const bytes = await this.redis.getBuffer(ref.key);
    if (!bytes) throw new Error(`output file ${entry.filename} of prompt ${promptId} is no longer in Redis (older than ${FILE_TTL_S} s?)`);
    let stored: StoredFile;
    if (previous) {
      stored = { ...previous, key: ref.key }; // the same slot from a retried run: replace our own file
    } else {
      const { prefix, ext } = splitName(entry.filename);
      const subfolder = entry.subfolder ? `${entry.subfolder}/` : '';
      const reserved = reserveFile(where.root, `${subfolder}${prefix}`, ext, where.type);
      stored = { key: ref.key, filename: reserved.filename, subfolder: reserved.subfolder, type: where.type };
    }
    await writeFile(path.join(where.root, stored.subfolder, stored.filename), bytes);
    await this.redis.multi().hset(mapKey, ref.slot, JSON.stringify(stored)).expire(mapKey, FILE_TTL_S).exec();
    return stored;
  }

  /** Once the history has the prompt: the bytes and the slot map are no longer needed. */
  async forget(promptId: string, fileKeys: string[]): Promise<void> {
    await this.redis.del(keys.stored(promptId), ...fileKeys);
  }
}
