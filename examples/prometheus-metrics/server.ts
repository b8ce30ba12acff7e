import { createApp } from './app';

const issuer = process.env.OKTA_ISSUER; // e.g. https://dev-123456.okta.com/oauth2/default
const audience = process.env.OKTA_AUDIENCE ?? 'api://default';
const port = Number(process.env.PORT ?? 3000);

if (issuer === undefined) {
  console.error('Set OKTA_ISSUER to your custom authorization server, e.g. https://dev-123456.okta.com/oauth2/default');
  process.exit(2);
}

createApp({ issuer, audience }).listen(port, () => {
  console.log(`prometheus-metrics listening on http://localhost:${port} (GET /orders with a bearer token, then GET /metrics)`);
});
