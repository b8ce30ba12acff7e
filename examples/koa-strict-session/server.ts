import { createApp } from './app';

const issuer = process.env.OKTA_ISSUER; // e.g. https://dev-123456.okta.com/oauth2/default
const apiToken = process.env.OKTA_API_TOKEN; // an Okta API token allowed to read sessions
const port = Number(process.env.PORT ?? 3000);

if (issuer === undefined || apiToken === undefined) {
  console.error('Set OKTA_ISSUER (your custom authorization server) and OKTA_API_TOKEN');
  process.exit(2);
}

const app = createApp({
  issuer,
  audience: process.env.OKTA_AUDIENCE ?? 'api://default',
  sessions: { apiToken, claim: process.env.OKTA_SESSION_CLAIM ?? 'sid' },
});
app.listen(port, () => {
  console.log(`koa-strict-session listening on http://localhost:${port} (GET /profile is lax, POST /payments is strict)`);
});
