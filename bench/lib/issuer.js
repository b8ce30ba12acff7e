'use strict';
// A loopback OpenID Connect issuer shaped like an Okta custom authorization server:
//   {issuer}/.well-known/openid-configuration   (and oauth-authorization-server)
//   {issuer}/v1/keys                             JWKS, one RS256 key with a kid
// It listens on 127.0.0.1 only and counts what it serves.

const http = require('node:http');

const DEFAULT_PORT = 48123;
const AUDIENCE = 'api://bench';

function issuerUrl(port = Number(process.env.BENCH_ISSUER_PORT || DEFAULT_PORT)) {
  return `http://127.0.0.1:${port}/oauth2/default`;
}

/** Starts the issuer serving `publicJwk`. Resolves to { issuer, jwksUri, hits, close() }. */
function startIssuer({ issuer, publicJwk }) {
  const url = new URL(issuer);
  const base = url.pathname.replace(/\/$/, '');
  const jwksUri = `${issuer}/v1/keys`;
  const metadata = JSON.stringify({
    issuer,
    authorization_endpoint: `${issuer}/v1/authorize`,
    token_endpoint: `${issuer}/v1/token`,
    jwks_uri: jwksUri,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  });
  const jwks = JSON.stringify({ keys: [publicJwk] });
  const hits = { metadata: 0, jwks: 0, other: 0 };
  const server = http.createServer((req, res) => {
    const p = (req.url || '').split('?')[0];
    let body;
    if (p === `${base}/.well-known/openid-configuration` || p === `${base}/.well-known/oauth-authorization-server`) {
      hits.metadata++;
      body = metadata;
    } else if (p === `${base}/v1/keys`) {
      hits.jwks++;
      body = jwks;
    } else {
      hits.other++;
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'max-age=3600, must-revalidate',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(url.port), '127.0.0.1', () => {
      resolve({
        issuer,
        jwksUri,
        hits,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
        server,
      });
    });
  });
}

module.exports = { startIssuer, issuerUrl, AUDIENCE, DEFAULT_PORT };
