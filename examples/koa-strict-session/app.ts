import Koa from 'koa';
import { createGuard, type GuardOptions } from 'tokengate';
import { protect } from 'tokengate/koa';

/**
 * A Koa API with a lax and a strict route. `GET /profile` accepts any valid access token until its
 * `exp`; `POST /payments` also asks Okta whether the token's session is still alive, so it stops
 * working as soon as the user signs out. The guard needs `sessions` (an Okta API token, or a service
 * app with `okta.sessions.read`) and tokens that carry the session id (see the README).
 */
export function createApp(options: GuardOptions): Koa {
  const guard = createGuard(options);
  const lax = protect(guard);
  const strict = protect(guard, { session: 'strict' });

  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/profile') {
      return lax(ctx, async () => {
        ctx.body = { subject: ctx.state.auth!.subject };
      });
    }
    if (ctx.method === 'POST' && ctx.path === '/payments') {
      return strict(ctx, async () => {
        ctx.body = { paid: true, by: ctx.state.auth!.subject };
      });
    }
    return next();
  });
  return app;
}
