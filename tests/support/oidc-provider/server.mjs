// An OpenID provider for Tessera's authentication tests (started by scripts/test/oidc.sh), on loopback.
//
// The protocol is oidc-provider's (npm, 9.x, an OpenID Certified implementation); this file only configures
// it and adds the login page. What it issues:
//   - access tokens as JWTs (RFC 9068, `typ: at+jwt`, RS256) for one resource server, the audience below,
//     with a `roles` array claim: the account's roles for a signed-in user, the client's for
//     client_credentials. Resource Indicators (RFC 8707) make the audience the default resource, and the
//     authorization code flow uses the resource the code was granted for, so a client never has to name it.
//   - a public client for Tessera's pages (`tessera-viewer`: authorization code with PKCE, refresh tokens),
//     registered as a native application so that its http://127.0.0.1 redirect URIs match on any port
//     (RFC 8252 section 7.3; oidc-provider's Client#redirectUriAllowed), since each test run's Tessera
//     binds port 0. CORS at the token endpoint is allowed for loopback origins.
//   - two confidential clients for scripts (client_credentials): `tessera-script` with every role and
//     `tessera-reader` with read only.
// Sign-in: a login form checking the fixed test accounts' passwords; consent is granted without asking
// for these first-party clients.
//
// Signing keys (RSA 2048 for RS256, and a P-256 key for ES256 in the JWKS) are generated at the first start
// into <state-dir>/keys.json and kept across restarts (scripts/test/oidc.sh start --fresh deletes them).
// Sessions, codes and tokens live in memory only.
//
// Usage: node server.mjs --port 18091 --state-dir /tmp/tessera-oidc --modules DIR [--host 127.0.0.1]
//   (DIR: the node_modules folder holding oidc-provider; ES modules do not look at NODE_PATH.)
// Issuer: http://<host>:<port>
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > -1 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '18091'));
const stateDir = arg('state-dir', '/tmp/tessera-oidc');
const modules = arg('modules', path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules'));

const providerMain = path.join(modules, 'oidc-provider', JSON.parse(
  fs.readFileSync(path.join(modules, 'oidc-provider', 'package.json'), 'utf8')).main);
const { default: Provider, errors } = await import(pathToFileURL(providerMain).href);

const ISSUER = `http://${host}:${port}`;
/** The resource server (Tessera's DICOMweb API): the `aud` of every access token. */
const AUDIENCE = 'http://tessera.test/dicom-web';

const ACCOUNTS = {
  radiologist: { password: 'radiologist-pw', name: 'Rita Radiologist', roles: ['read'] },
  technologist: { password: 'technologist-pw', name: 'Tom Technologist', roles: ['read', 'write'] },
  archivist: { password: 'archivist-pw', name: 'Anna Archivist', roles: ['read', 'write', 'delete', 'admin'] },
  visitor: { password: 'visitor-pw', name: 'Victor Visitor', roles: [] },
};

const VIEWER_CLIENT = 'tessera-viewer';
// client_credentials clients: their secret and the roles their tokens carry.
const SCRIPT_CLIENTS = {
  'tessera-script': { secret: 'tessera-script-secret', roles: ['read', 'write', 'delete', 'admin'] },
  'tessera-reader': { secret: 'tessera-reader-secret', roles: ['read'] },
};

// ---------------------------------------------------------------------------
// keys

function loadOrCreateKeys() {
  const file = path.join(stateDir, 'keys.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const jwk = (pair, alg) => {
    const key = pair.privateKey.export({ format: 'jwk' });
    const kid = crypto.createHash('sha256').update(JSON.stringify(pair.publicKey.export({ format: 'jwk' })))
      .digest('base64url').slice(0, 16);
    return { ...key, kid, alg, use: 'sig' };
  };
  const state = {
    // The RSA key first: the one oidc-provider signs RS256 with.
    jwks: {
      keys: [
        jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'),
        jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'),
      ],
    },
    cookieKeys: [crypto.randomBytes(32).toString('base64url')],
  };
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  return state;
}
const keys = loadOrCreateKeys();

// ---------------------------------------------------------------------------
// the provider

const isLoopbackOrigin = origin => {
  const url = URL.parse(origin);
  return !!url && url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
};

const configuration = {
  clients: [
    {
      client_id: VIEWER_CLIENT,
      client_name: 'Tessera (viewer and built-in page)',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // OHIF 3 under /viewer (its default redirect path /callback below routerBasename) and the built-in page.
      redirect_uris: ['http://127.0.0.1/viewer/callback', 'http://127.0.0.1/', 'http://localhost/viewer/callback', 'http://localhost/'],
      post_logout_redirect_uris: ['http://127.0.0.1/', 'http://127.0.0.1/viewer/signed-out', 'http://localhost/', 'http://localhost/viewer/signed-out'],
    },
    ...Object.entries(SCRIPT_CLIENTS).map(([clientId, c]) => ({
      client_id: clientId,
      client_secret: c.secret,
      client_name: `Tessera test script (${c.roles.join(', ')})`,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    })),
  ],
  jwks: keys.jwks,
  cookies: { keys: keys.cookieKeys },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: account.name, preferred_username: id };
      },
    };
  },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  scopes: ['openid', 'profile', 'offline_access'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        if (oneOf) return oneOf.includes(AUDIENCE) ? AUDIENCE : oneOf;
        return AUDIENCE;
      },
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, indicator) {
        if (indicator !== AUDIENCE) throw new errors.InvalidTarget();
        return {
          audience: AUDIENCE,
          scope: 'dicomweb',
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async extraTokenClaims(_ctx, token) {
    if (token.accountId) return { roles: [...(ACCOUNTS[token.accountId]?.roles || [])] };
    const client = SCRIPT_CLIENTS[token.clientId];
    return client ? { roles: [...client.roles] } : undefined;
  },
  // Tessera's pages are served from loopback on whatever port the test's Tessera bound.
  clientBasedCORS(_ctx, origin) {
    return isLoopbackOrigin(origin);
  },
  pkce: { required: () => true },
  // Refresh tokens for the pages' client without asking for offline_access.
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 120,
    IdToken: 3600,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
    RefreshToken: 86400,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><pre>${esc(JSON.stringify(out, null, 2))}</pre>`);
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// ---------------------------------------------------------------------------
// the login page (and consent, granted without asking for these first-party clients)

const esc = s => String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:24rem}label,input,button{display:block;width:100%;margin:.3rem 0}input{padding:.4rem}button{padding:.5rem}.error{color:#a01010}</style>
</head><body>${body}</body></html>`;
}

function loginForm(uid, clientName, error = '', login = '') {
  return page('Sign in', `<h1>Sign in</h1>
<p>to <b>${esc(clientName)}</b> (Tessera test provider)</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="login">User</label><input id="login" name="login" value="${esc(login)}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

// The grant for every scope and resource scope the request asked for.
async function autoConsent(details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return details.grantId ? {} : { grantId };
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p>interaction mismatch</p>'));
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') return send(res, 200, loginForm(uid, clientName));
    if (details.prompt.name === 'consent') {
      return provider.interactionFinished(req, res, { consent: await autoConsent(details) }, { mergeWithLastSubmission: true });
    }
    return send(res, 400, page('Error', `<p>unknown prompt ${esc(details.prompt.name)}</p>`));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = ACCOUNTS[form.login];
    const ok = account && form.password && crypto.timingSafeEqual(
      crypto.createHash('sha256').update(form.password).digest(),
      crypto.createHash('sha256').update(account.password).digest());
    if (!ok) return send(res, 200, loginForm(uid, clientName, 'Unknown user or wrong password.', form.login || ''));
    return provider.interactionFinished(req, res, { login: { accountId: form.login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, page('Error', '<p>method not allowed</p>'));
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?(?:\?.*)?$/.exec(req.url);
  if (!m) return callback(req, res);
  interaction(req, res, m[1], m[2]).catch(err => {
    console.error('interaction error', err);
    if (!res.headersSent) send(res, err.statusCode || 500, page('Error', `<p>${esc(err.message)}</p>`));
  });
});
server.listen(port, host, () => console.log(`oidc-provider listening at ${ISSUER} (audience ${AUDIENCE})`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
