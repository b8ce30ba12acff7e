import express from 'express';
import { type GuardOptions } from 'tokengate';
import { protect } from 'tokengate/express';

/** The service under test: `GET /orders` needs an Okta access token with the `orders:read` scope. */
export function createApp(options: GuardOptions): express.Express {
  const app = express();
  app.get('/orders', protect(options, { scopes: ['orders:read'] }), (req, res) => {
    res.json({ user: req.auth!.subject, orders: [] });
  });
  return app;
}
