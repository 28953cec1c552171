import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import { checkOrigin, cors, isAuthorized, requireToken } from './auth.ts';
import type { ServerContext } from './context.ts';
import { errorHandler, notFound } from './http-errors.ts';
import { LOGIN_PAGE, PAGE_CSP, PLACEHOLDER_PAGE } from './pages.ts';
import { comfyRoutes } from './routes/comfy.ts';
import { fileRoutes } from './routes/files.ts';
import { ownRoutes } from './routes/own.ts';
import { EDITOR_DIST } from './static-dirs.ts';

/** The editor talks to this server only (fetch and WebSockets); rete's nodes carry inline styles. */
const EDITOR_CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'";

/**
 * The express app. Order matters: security headers, CORS preflight, the cross-origin check and
 * the token come before any route; the JSON parser reads every non-multipart body (ComfyUI
 * reads JSON whatever the Content-Type, and Python's urllib sends form-encoded by default);
 * ComfyUI's routes are served at `/` and under `/api`, ours only under `/api`; anything else
 * is a JSON 404, and every error a JSON answer.
 */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({ 'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
  next();
};

/** Requests that need no token: signing in and out. */
const isOpen = (method: string, path: string) => method === 'POST' && (path === '/api/login' || path === '/api/logout');

export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(securityHeaders);
  if (ctx.corsOrigin) app.use(cors(ctx.corsOrigin));
  app.use(checkOrigin(ctx.corsOrigin, ctx.token));
  const editor = existsSync(path.join(EDITOR_DIST, 'index.html'));
  app.get('/', (req, res) => {
    const allowed = !ctx.token || isAuthorized(req, ctx.token);
    if (allowed && editor) res.set('Content-Security-Policy', EDITOR_CSP).sendFile(path.join(EDITOR_DIST, 'index.html'));
    else res.status(allowed ? 200 : 401).set('Content-Security-Policy', PAGE_CSP).type('html').send(allowed ? PLACEHOLDER_PAGE : LOGIN_PAGE);
  });
  // The editor's bundle: hashed file names, so it may be cached for good.
  if (editor) app.use('/assets', express.static(path.join(EDITOR_DIST, 'assets'), { immutable: true, maxAge: '1y' }));
  if (ctx.token) app.use(requireToken(ctx.token, isOpen));
  app.use(express.json({ limit: ctx.limits.jsonBytes, type: (req) => !String(req.headers['content-type'] ?? '').startsWith('multipart/') }));

  const comfy = express.Router();
  comfy.use(comfyRoutes(ctx), fileRoutes(ctx));
  app.use('/api', ownRoutes(ctx));
  app.use('/api', comfy);
  app.use(comfy);
  app.use(notFound);
  app.use(errorHandler(ctx.logger, ctx.debug));
  return app;
}
