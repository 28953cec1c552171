import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../engine/node.ts';
import { UnsafePathError } from './paths.ts';

/**
 * Every error answer has ComfyUI's error shape, `{error: {type, message, details, extra_info}}`,
 * so a client needs one way to read them. Stack traces only with `--debug`.
 */
export interface ErrorBody {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly details = '', readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export function errorBody(type: string, message: string, details = '', extra_info: Record<string, unknown> = {}): { error: ErrorBody } {
  return { error: { type, message, details, extra_info } };
}

/** What body-parser and multer throw, as [status, type, message] for the client. */
function knownError(err: unknown): [number, string, string] | undefined {
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; code?: unknown; name?: unknown; message?: unknown; expose?: unknown };
  if (e?.name === 'MulterError') {
    if (e.code === 'LIMIT_FILE_SIZE') return [413, 'payload_too_large', 'the uploaded file is larger than the upload limit'];
    return [400, 'bad_upload', `bad upload: ${String(e.message)}`];
  }
  if (e?.type === 'entity.too.large') return [413, 'payload_too_large', 'the request body is larger than the limit'];
  if (e?.type === 'entity.parse.failed') return [400, 'invalid_json', 'the request body is not valid JSON'];
  const status = Number(e?.status ?? e?.statusCode);
  if (Number.isInteger(status) && status >= 400 && status < 500 && e?.expose !== false) {
    return [status, status === 404 ? 'not_found' : 'bad_request', typeof e?.message === 'string' ? e.message : 'bad request'];
  }
  return undefined;
}

/** The last middleware: turns anything thrown into a JSON answer; a request never crashes the server. */
export function errorHandler(logger: Logger, debug: boolean): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    let status: number;
    let body: { error: ErrorBody };
    if (err instanceof HttpError) {
      status = err.status;
      body = errorBody(err.type, err.message, err.details, err.extra);
    } else if (err instanceof UnsafePathError) {
      status = err.status;
      body = errorBody(err.status === 403 ? 'forbidden_path' : 'bad_path', err.message);
    } else {
      const known = knownError(err);
      if (known) {
        status = known[0];
        body = errorBody(known[1], known[2]);
      } else {
        status = 500;
        logger.error(`${req.method} ${req.path}: ${(err as Error)?.stack ?? String(err)}`);
        body = errorBody('internal_error', 'internal server error');
      }
    }
    if (debug && err instanceof Error && err.stack) body.error.extra_info = { ...body.error.extra_info, traceback: err.stack.split('\n') };
    res.status(status).json(body);
  };
}

export const notFound: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no such route: ${req.method} ${req.path.slice(0, 200)}`));
};
