import express from 'express';
import { createGuard, type GuardOptions } from 'tokengate';
import { protect } from 'tokengate/express';

/**
 * An Express API protected by tokengate: `/health` is public, `/me` needs any valid access token,
 * `/orders` also needs the `orders:read` scope. One guard (one key set, one cache) serves every route.
 * A rejection is answered by the middleware itself: status, `WWW-Authenticate`, and a JSON body
 * `{ error, code, error_description }`.
 */
export function createApp(options: GuardOptions): express.Express {
  const guard = createGuard(options);
  const app = express();

  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/me', protect(guard), (req, res) => {
    res.json({ subject: req.auth!.subject, scopes: req.auth!.scopes, clientId: req.auth!.clientId });
  });
  app.get('/orders', protect(guard, { scopes: ['orders:read'] }), (_req, res) => {
    res.json([{ id: 1, item: 'coffee' }]);
  });

  return app;
}
