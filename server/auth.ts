import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import { errorBody } from './http-errors.ts';

/**
 * Access control. Without a token the server only listens on loopback; with one, every HTTP
 * route and the WebSocket need it: `Authorization: Bearer <token>`, the session cookie that
 * `POST /api/login` sets, or (WebSocket only, for clients that cannot set headers) `?token=`.
 * The cookie holds an HMAC of the token, never the token itself.
 */
export const SESSION_COOKIE = 'sanagraph_session';

/** Loopback names and addresses: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Why the server must not start on this address, or undefined when it may. */
export function bindingProblem(host: string, token: string | undefined): string | undefined {
  if (isLoopback(host) || token) return undefined;
  return `refusing to listen on ${host} without a token: anyone who can reach it could run workflows and read outputs. `
    + 'Set one with --token <secret> or the SANAGRAPH_TOKEN environment variable, or listen on 127.0.0.1';
}

/** Equal strings in time independent of where they differ (hashing first also hides the length). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('sanagraph-session-v1').digest('base64url');
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether a request carries the token (header or cookie; `?token=` only when allowed). */
export function isAuthorized(req: IncomingMessage, token: string, allowQuery = false): boolean {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && safeEqual(auth.slice(7).trim(), token)) return true;
  const session = cookie(req.headers.cookie, SESSION_COOKIE);
  if (session && safeEqual(session, sessionValue(token))) return true;
  if (allowQuery) {
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    if (query && safeEqual(query, token)) return true;
  }
  return false;
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${sessionValue(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${30 * 24 * 3600}`;
}

export const CLEARED_COOKIE = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;

/** Requires the token on every request except the ones `open` lets through (login). */
export function requireToken(token: string, open: (method: string, path: string) => boolean): RequestHandler {
  return (req, res, next) => {
    if (open(req.method, req.path) || isAuthorized(req, token)) {
      next();
      return;
    }
    res.status(401).set('WWW-Authenticate', 'Bearer').json(errorBody('unauthorized',
      'this server requires a token: send "Authorization: Bearer <token>", or POST {"token": ...} to /api/login for a session cookie'));
  };
}

/**
 * Refuses cross-site requests, as ComfyUI does: a web page on another origin must not queue
 * prompts on a server on this machine (browsers send `Origin` on cross-site requests, and
 * WebSocket connections are not bound by CORS at all). Allowed: no Origin header, an Origin
 * whose host:port is the request's Host, and the configured CORS origin.
 */
export function originAllowed(req: IncomingMessage, corsOrigin: string | undefined): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (corsOrigin && origin === corsOrigin) return true;
  try {
    return new URL(origin).host.toLowerCase() === (req.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Without a token the server answers only requests addressed to a loopback name: a page from a
 * DNS-rebinding domain (evil.example resolving to 127.0.0.1) is same-origin with itself, so the
 * Origin check alone would let it in; its Host header gives it away.
 */
export function hostAllowed(req: IncomingMessage, token: string | undefined): boolean {
  const host = req.headers.host;
  if (token || !host) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return isLoopback(name);
}

/** Why a request from a browser page must be refused, or undefined. */
export function foreignRequest(req: IncomingMessage, corsOrigin: string | undefined, token: string | undefined): string | undefined {
  if (!hostAllowed(req, token)) {
    return `requests for host ${String(req.headers.host).slice(0, 200)} are not answered without a token (this server listens for loopback names only)`;
  }
  if (!originAllowed(req, corsOrigin)) {
    return `requests from ${String(req.headers.origin).slice(0, 200)} are not allowed (start the server with --cors-origin to allow one origin)`;
  }
  return undefined;
}

export function checkOrigin(corsOrigin: string | undefined, token: string | undefined): RequestHandler {
  return (req, res, next) => {
    const why = foreignRequest(req, corsOrigin, token);
    if (why) res.status(403).json(errorBody('forbidden_origin', why));
    else next();
  };
}

/** CORS headers for the one allowed origin; preflight requests end here. */
export function cors(origin: string): RequestHandler {
  return (req, res, next) => {
    if (req.headers.origin === origin) {
      res.set({
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization',
        'Access-Control-Allow-Credentials': 'true',
        Vary: 'Origin',
      });
    }
    if (req.method === 'OPTIONS') res.status(204).end();
    else next();
  };
}
