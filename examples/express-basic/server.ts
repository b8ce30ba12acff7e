import { createApp } from './app';

const issuer = process.env.OKTA_ISSUER; // e.g. https://dev-123456.okta.com/oauth2/default
const audience = process.env.OKTA_AUDIENCE ?? 'api://default';
const port = Number(process.env.PORT ?? 3000);

if (issuer === undefined) {
  console.error('Set OKTA_ISSUER to your custom authorization server, e.g. https://dev-123456.okta.com/oauth2/default');
  process.exit(2);
}

createApp({ issuer, audience }).listen(port, () => {
  console.log(`express-basic listening on http://localhost:${port} (try GET /me with a bearer token)`);
});
