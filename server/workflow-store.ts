import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HttpError } from './http-errors.ts';
import { UnsafePathError } from './paths.ts';
import { isWorkflowName, WORKFLOW_NAME_RULE } from './workflow-name.ts';

/**
 * Saved workflows (`/api/workflows`): one JSON file per workflow in `<data-dir>/workflows`, named
 * as workflow-name.ts allows. `.json` is added on disk.
 */
export function checkWorkflowName(raw: string): string {
  const name = raw.endsWith('.json') ? raw.slice(0, -5) : raw;
  if (!isWorkflowName(name)) throw new UnsafePathError(`a workflow name is ${WORKFLOW_NAME_RULE}`);
  return name;
}

export interface WorkflowSummary { name: string; size: number; modified: string }

/** Workflows in a folder: the saved ones, or (kind "template") those shipped in workflows/. */
export class WorkflowStore {
  constructor(readonly dir: string, private readonly kind: 'workflow' | 'template' = 'workflow') {
    mkdirSync(dir, { recursive: true });
  }

  private file(name: string): string {
    return path.join(this.dir, `${checkWorkflowName(name)}.json`);
  }

  list(): WorkflowSummary[] {
    return readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.json') && isWorkflowName(e.name.slice(0, -5)))
      .map((e) => {
        const stat = statSync(path.join(this.dir, e.name));
        return { name: e.name.slice(0, -5), size: stat.size, modified: stat.mtime.toISOString() };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The workflow's JSON text, as saved. */
  async get(name: string): Promise<string> {
    try {
      // O_NOFOLLOW: a symlink planted in the folder is not followed out of it.
      return await readFile(this.file(name), { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') throw new HttpError(404, 'not_found', `no ${this.kind} named "${name}"`);
      throw e;
    }
  }

  /** The workflow's JSON text, or undefined when there is none (for loading a live document at once). */
  readSync(name: string): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.file(name), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  }

  /** Saves atomically (write a temp file, then rename), so a crash never leaves half a file. */
  put(name: string, workflow: unknown): { created: boolean } {
    const file = this.file(name);
    let created = true;
    try {
      created = !statSync(file).isFile();
    } catch { /* new */ }
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(workflow, null, 2));
    renameSync(temp, file);
    return { created };
  }

  delete(name: string): void {
    const file = this.file(name);
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
    } catch {
      throw new HttpError(404, 'not_found', `no ${this.kind} named "${name}"`);
    }
    rmSync(file);
  }
}
