import { z } from 'zod';
import { formatPath } from '../engine/workflow.ts';
import { HttpError } from './http-errors.ts';

/**
 * The zod schema of every request body and query the server reads. Unknown keys are ignored
 * (as ComfyUI does), wrong types are a 400 naming the field.
 */
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const id = z.string().min(1).max(256);

/** ComfyUI sends `number` as a JSON number; `float()` on its side also takes numeric strings. */
const queueNumber = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number)])
  .refine((n) => Number.isFinite(n), 'must be a finite number');

export const PromptBody = z.object({
  prompt: z.custom<Record<string, unknown>>(isRecord, 'prompt must be a workflow object').optional(),
  client_id: z.string().max(256).optional(),
  prompt_id: id.optional(),
  extra_data: z.record(z.string(), z.unknown()).optional(),
  front: z.boolean().optional(),
  number: queueNumber.optional(),
  partial_execution_targets: z.array(id).max(10_000).optional(),
});

/** `POST /queue` and `POST /history`: `{clear?: true, delete?: [ids]}`. */
export const ClearOrDeleteBody = z.object({
  clear: z.boolean().optional(),
  delete: z.array(id).max(100_000).optional(),
});

export const InterruptBody = z.object({ prompt_id: id.optional() });

export const FreeBody = z.object({ unload_models: z.boolean().optional(), free_memory: z.boolean().optional() });

export const LoginBody = z.object({ token: z.string().min(1).max(4096) });

const count = z.string().regex(/^-?\d{1,9}$/, 'must be an integer').transform(Number);
export const HistoryQuery = z.object({ max_items: count.optional(), offset: count.optional() });

export const FileType = z.enum(['output', 'input', 'temp']);
export const ViewQuery = z.object({
  filename: z.string().min(1, 'filename is required').max(1024),
  subfolder: z.string().max(1024).default(''),
  type: FileType.default('output'),
});

export const UploadFields = z.object({
  overwrite: z.string().max(8).optional(),
  type: FileType.default('input'),
  subfolder: z.string().max(1024).default(''),
});

export const WorkflowBody = z.custom<Record<string, unknown>>(isRecord, 'a workflow must be a JSON object');

/** Parses with a schema or throws a 400 that names every wrong field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what = 'request body'): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new HttpError(400, 'invalid_request', `invalid ${what}: ${issues.join('; ')}`, issues.join('\n'));
}
