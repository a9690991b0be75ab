'use strict';
// A FHIR R4 server for Tessera's FHIR push tests (see scripts/test/fhir-server.sh, which starts it).
//
// The FHIR REST semantics are Medplum's (@medplum/fhir-router, the router of the Medplum FHIR server):
// read, vread, history, search, create, conditional create (If-None-Exist), update, conditional
// update (PUT Type?search), delete, batch/transaction. Around it this file adds the HTTP layer,
// GET metadata, strict validation of every resource sent (validate.js; invalid -> 422
// OperationOutcome, as HAPI's RequestValidatingInterceptor answers) and a durable store (store.js).
//
// Usage: node server.js --port 18090 --data-dir /tmp/tessera-fhir [--host 127.0.0.1] [--cache-dir DIR]
// Base URL: http://<host>:<port>/fhir
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const core = require('@medplum/core');
const { FhirRouter } = require('@medplum/fhir-router');
const { DurableRepository } = require('./store');
const { load, validate } = require('./validate');

const BASE_PATH = '/fhir';
const MAX_BODY = 32 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > -1 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '18090'));
const dataDir = arg('data-dir', '/tmp/tessera-fhir');
// Where the compact definitions file is kept (made on the first start): scripts/test/fhir-server.sh passes
// the npm install's directory, so it lives as long as the packages it was made from.
const cacheDir = arg('cache-dir', path.join(os.tmpdir(), 'tessera-fhir-definitions'));

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function send(res, status, body, headers = {}) {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': bytes.length, ...headers });
  res.end(bytes);
}

function capabilityStatement() {
  const types = ['ImagingStudy', 'Endpoint', 'Patient'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Tessera test FHIR server (Medplum fhir-router)' },
    implementation: { description: 'FHIR R4 test server for Tessera', url: `http://${host}:${port}${BASE_PATH}` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type,
          versioning: 'versioned',
          readHistory: true,
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
          interaction: ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'].map(
            (code) => ({ code })
          ),
          searchParam: [{ name: 'identifier', type: 'token' }, { name: '_id', type: 'token' }],
        })),
      },
    ],
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Every resource a request carries: the body, or each entry of a batch/transaction Bundle too. */
function resourcesToValidate(body) {
  const list = [body];
  if (body.resourceType === 'Bundle' && (body.type === 'batch' || body.type === 'transaction')) {
    for (const e of body.entry || []) if (e.resource) list.push(e.resource);
  }
  return list;
}

async function handle(router, repo, req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    return send(res, 404, outcome('error', 'not-found', `Not under ${BASE_PATH}: ${url.pathname}`));
  }
  const rel = url.pathname.slice(BASE_PATH.length) || '/';
  const method = req.method;

  if (method === 'GET' && rel === '/metadata') {
    return send(res, 200, capabilityStatement());
  }

  let body;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const raw = await readBody(req);
    const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const jsonTypes =
      method === 'PATCH' ? ['application/json-patch+json'] : ['application/fhir+json', 'application/json'];
    if (!jsonTypes.includes(ctype)) {
      return send(res, 415, outcome('error', 'not-supported', `Unsupported Content-Type "${ctype}"; send ${jsonTypes.join(' or ')}`));
    }
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      return send(res, 400, outcome('fatal', 'structure', `Body is not valid JSON: ${e.message}`));
    }
    if (method !== 'PATCH') {
      if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.resourceType !== 'string') {
        return send(res, 400, outcome('fatal', 'structure', 'Body is not a FHIR resource (no resourceType)'));
      }
      const issues = resourcesToValidate(body).flatMap((r) => validate(r));
      if (issues.length > 0) {
        return send(res, 422, { resourceType: 'OperationOutcome', issue: issues });
      }
    }
  }

  const query = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    query[key] = all.length === 1 ? all[0] : all;
  }
  // Medplum answers 200 to an update that creates; HAPI (and the FHIR spec) answer 201.
  const target = method === 'PUT' ? /^\/([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(rel) : null;
  const existed = target ? Boolean(repo.resources.get(target[1])?.has(target[2])) : true;
  const [result, resource] = await router.handleRequest(
    { method, url: rel + url.search, pathname: '', params: {}, query, body, headers: req.headers },
    repo
  );
  let status = core.getStatus(result);
  if (!existed && status === 200 && resource) status = 201;
  if (!resource) {
    return send(res, status, result);
  }
  const headers = {};
  if (resource.meta?.versionId && resource.id) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (status === 201) {
      headers.Location = `${BASE_PATH}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
  }
  if (resource.resourceType === 'Bundle') {
    for (const e of resource.entry || []) {
      if (!e.fullUrl && e.resource?.id) {
        e.fullUrl = `http://${host}:${port}${BASE_PATH}/${e.resource.resourceType}/${e.resource.id}`;
      }
    }
  }
  return send(res, status, resource, headers);
}

function main() {
  const t0 = process.hrtime.bigint();
  fs.mkdirSync(dataDir, { recursive: true });
  load(cacheDir);
  const repo = new DurableRepository(dataDir);
  const router = new FhirRouter();
  // One request at a time: Medplum's memory repository has no transactions, and conditional
  // create/update (search, then write) must not interleave across requests.
  let queue = Promise.resolve();
  const server = http.createServer((req, res) => {
    queue = queue.then(() =>
      handle(router, repo, req, res).catch((err) => {
        const status = err && err.status ? err.status : 500;
        console.error(`${req.method} ${req.url}: ${err && err.stack ? err.stack : err}`);
        if (!res.headersSent) send(res, status, outcome('error', 'exception', String(err && err.message)));
      })
    );
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, host, () => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(
      `tessera test FHIR server: http://${host}:${port}${BASE_PATH} (data ${dataDir}, ` +
        `${repo.replayed || 0} journal records replayed, ready in ${ms.toFixed(0)} ms)`
    );
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
