import express, { type Express, type RequestHandler } from 'express';
import { checkOrigin, cors, isAuthorized, requireToken } from './auth.ts';
import type { ServerContext } from './context.ts';
import { errorHandler, notFound } from './http-errors.ts';
import { LOGIN_PAGE, PAGE_CSP, PLACEHOLDER_PAGE } from './pages.ts';
import { comfyRoutes } from './routes/comfy.ts';
import { fileRoutes } from './routes/files.ts';
import { ownRoutes } from './routes/own.ts';

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
  app.get('/', (req, res) => {
    const allowed = !ctx.token || isAuthorized(req, ctx.token);
    res.status(allowed ? 200 : 401).set('Content-Security-Policy', PAGE_CSP).type('html').send(allowed ? PLACEHOLDER_PAGE : LOGIN_PAGE);
  });
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
