import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

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

/**
 * Try the shipped demo model from the start page: the prompt goes into workflows/demo.json, which
 * is queued with POST /prompt; the image is shown when the WebSocket reports it.
 */
const DEMO_WORKFLOW = readFileSync(new URL('../workflows/demo.json', import.meta.url), 'utf8');
const DEMO_SCRIPT = `
const workflow = ${DEMO_WORKFLOW.trim()};
const clientId = crypto.randomUUID();
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?clientId=' + clientId);
const status = document.getElementById('s');
ws.addEventListener('message', (e) => {
  if (typeof e.data !== 'string') return;
  const { type, data } = JSON.parse(e.data);
  if (type === 'progress') status.textContent = 'step ' + data.value + ' of ' + data.max;
  if (type === 'execution_error') status.textContent = 'failed: ' + data.exception_message;
  if (type === 'executed' && data.output.images) {
    const img = data.output.images[0];
    document.getElementById('i').src = '/view?filename=' + encodeURIComponent(img.filename) + '&subfolder=' + encodeURIComponent(img.subfolder) + '&type=' + img.type;
    status.textContent = '';
  }
});
document.getElementById('g').addEventListener('submit', async (e) => {
  e.preventDefault();
  workflow.nodes['2'].inputs.text = document.getElementById('p').value;
  workflow.nodes['4'].inputs.seed = Number(document.getElementById('n').value);
  status.textContent = 'queued';
  const r = await fetch('/prompt', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: workflow, client_id: clientId }) });
  if (!r.ok) status.textContent = 'refused: ' + (await r.json()).error.message;
  document.getElementById('n').value = Math.floor(Math.random() * 1e9);
});
`;
const PROMPT = (JSON.parse(DEMO_WORKFLOW) as { nodes: Record<string, { inputs: { text?: string } }> }).nodes['2'].inputs.text ?? '';

export const PLACEHOLDER_PAGE = page('sanagraph', `<h1>sanagraph</h1>
<p>The server is running, but the graph editor is not built (<code>npm run build:editor</code>, which
<code>npm start</code> does for you). Meanwhile, try the shipped demo model
(shapes and colours: <em>a [small|large] &lt;colour&gt; &lt;circle|square|triangle&gt; &lt;on the left|on the right|at the top|at the bottom|in the center&gt; on a &lt;colour&gt; background</em>):</p>
<form id="g"><input id="p" size="60" value="${PROMPT.replace(/"/g, '&quot;')}"> seed <input id="n" type="number" value="1" style="width:7rem">
<button>Generate</button> <span id="s"></span></form>
<p><img id="i" width="256" height="256" alt="" style="image-rendering:pixelated;background:#eee"></p>
<script>${DEMO_SCRIPT}</script>
<p>Or use the ComfyUI-compatible API:
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

const scriptHash = (script: string) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`;

/** Only our own inline scripts (by their hashes) may run; nothing may be framed or loaded from elsewhere. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
  + `script-src ${scriptHash(LOGIN_SCRIPT)} ${scriptHash(DEMO_SCRIPT)}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'`;
