import { createHash } from 'node:crypto';

/**
 * The two HTML pages the server has until the editor ([P5]) arrives: a placeholder at `/` that
 * links the API, and a sign-in form shown instead when a token is required and missing.
 * Static text only (no user data), served with a strict Content-Security-Policy.
 */
const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}li{margin:.2rem 0}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${title}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

const links: [string, string][] = [
  ['/object_info', 'node catalog (ComfyUI format)'],
  ['/queue', 'queue'],
  ['/history', 'history'],
  ['/system_stats', 'system and devices'],
  ['/api/workflows', 'saved workflows'],
  ['/api/nodes', 'node catalog (sanagraph format)'],
  ['/api/health', 'health'],
];

export const PLACEHOLDER_PAGE = page('sanagraph', `<h1>sanagraph</h1>
<p>The server is running. The graph editor is coming; until then, use the ComfyUI-compatible API:
queue a workflow with <code>POST /prompt</code> and follow it on the WebSocket <code>/ws</code>.</p>
<ul>${links.map(([href, what]) => `<li><a href="${href}"><code>${href}</code></a> — ${what}</li>`).join('')}</ul>
<p>Every route is also served under <code>/api</code>. See <code>docs/server.md</code> for the full API.</p>`);

const LOGIN_SCRIPT = `
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: document.getElementById('t').value }) });
  if (r.ok) location.reload(); else document.getElementById('m').textContent = 'Wrong token.';
});
`;

export const LOGIN_PAGE = page('sanagraph — sign in', `<h1>sanagraph</h1>
<p>This server requires a token.</p>
<form id="f"><input id="t" type="password" autocomplete="current-password" placeholder="token" required>
<button>Sign in</button></form><p id="m"></p><script>${LOGIN_SCRIPT}</script>`);

/** Only our own inline script (by its hash) may run; nothing may be framed or loaded from elsewhere. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; "
  + `script-src 'sha256-${createHash('sha256').update(LOGIN_SCRIPT).digest('base64')}'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'`;
