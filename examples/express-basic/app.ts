import express, { type ErrorRequestHandler } from 'express';
import { AuthError, createGuard, type GuardOptions } from 'tokengate';
import { protect } from 'tokengate/express';

/**
 * An Express API protected by tokengate: `/health` is public, `/me` needs any valid access token,
 * `/orders` also needs the `orders:read` scope. One guard (one key set, one cache) serves every route.
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

  app.use(renderAuthErrors);
  return app;
}

/** Sends tokengate's rejections as JSON with their status and `WWW-Authenticate` header; anything else goes on to Express. */
const renderAuthErrors: ErrorRequestHandler = (error, _req, res, next) => {
  if (!(error instanceof AuthError)) return next(error);
  res.status(error.status).set(error.headers).json({ error: error.code, message: error.expose ? error.message : 'Try again later' });
};
