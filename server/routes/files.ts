import { statSync } from 'node:fs';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import { parse, UploadFields, ViewQuery } from '../bodies.ts';
import type { ServerContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { existingFileInside } from '../paths.ts';
import { saveUpload, uploadParser } from '../uploads.ts';

/**
 * `GET /view` and `POST /upload/image`, as ComfyUI's: files addressed by
 * `(filename, subfolder, type)` inside the output, input or temp folder, never outside.
 */

/** Content types we name; anything else downloads as bytes (an uploaded page must never render here). */
const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif',
  '.txt': 'text/plain; charset=utf-8', '.json': 'application/json',
};

/** ComfyUI's annotated names: `name.png [output]` picks the folder. */
function annotated(filename: string): { filename: string; type?: 'output' | 'input' | 'temp' } {
  const m = /^(.*) \[(output|input|temp)\]$/.exec(filename);
  return m ? { filename: m[1], type: m[2] as 'output' | 'input' | 'temp' } : { filename };
}

/** Refuses a body announced larger than the limit before reading any of it. */
function limitLength(max: number): RequestHandler {
  return (req, _res, next) => {
    const length = Number(req.headers['content-length']);
    next(Number.isFinite(length) && length > max ? new HttpError(413, 'payload_too_large', `the upload is larger than the limit of ${max} bytes`) : undefined);
  };
}

export function fileRoutes(ctx: ServerContext): Router {
  const r = Router();

  r.get('/view', (req, res, next) => {
    const q = parse(ViewQuery, req.query, 'query');
    const name = annotated(q.filename);
    const root = ctx.dirs[name.type ?? q.type];
    const file = existingFileInside(root, q.subfolder, name.filename);
    if (!file || !statSync(file).isFile()) throw new HttpError(404, 'not_found', 'no such file');
    const base = path.basename(file);
    res.sendFile(file, {
      dotfiles: 'allow',
      headers: {
        'Content-Type': CONTENT_TYPES[path.extname(base).toLowerCase()] ?? 'application/octet-stream',
        'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(base)}`,
      },
    }, (err) => {
      // A client that hangs up mid-file is no error of ours; anything before the headers is.
      if (err && !res.headersSent) next(err);
    });
  });

  // multer gives the multipart fields as strings; its size limit stops reading at the limit.
  const maxUploadBody = ctx.limits.uploadBytes + 64 * 1024;
  r.post('/upload/image', limitLength(maxUploadBody), uploadParser(ctx.limits.uploadBytes), (req, res) => {
    if (!req.file) throw new HttpError(400, 'bad_upload', 'send the image as multipart/form-data in a field named "image"');
    const fields = parse(UploadFields, req.body, 'upload fields');
    const overwrite = fields.overwrite === 'true' || fields.overwrite === '1';
    const name = saveUpload(ctx.dirs[fields.type], fields.subfolder, req.file.originalname, req.file.buffer, overwrite);
    res.json({ name, subfolder: fields.subfolder, type: fields.type });
  });
  return r;
}
