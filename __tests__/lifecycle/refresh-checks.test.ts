import express from 'express';
import Fastify from 'fastify';
import request from 'supertest';
import { createGuard, type Guard, type GuardOptions, type TokenSet } from 'tokengate';
import * as ex from 'tokengate/express';
import * as fa from 'tokengate/fastify';
import * as ko from 'tokengate/koa';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { fakeClock, fastifyServed, koaRoutes, type Served } from '../helpers';

let clock: ReturnType<typeof fakeClock>;
let okta: MockOkta;
let guard: Guard;

beforeEach(() => {
  clock = fakeClock();
  okta = mockOkta({ clock: () => clock.now() });
});
afterEach(async () => {
  await guard.close();
  okta.close();
});

function makeGuard(extra: Partial<GuardOptions> = {}): Guard {
  guard = createGuard({
    issuer: okta.issuer,
    audience: okta.audience,
    clock: () => clock.now(),
    client: { clientId: okta.clientId, clientSecret: okta.clientSecret },
    ...extra,
  });
  return guard;
}

/** What the refresh hooks saw: whether the hook was asked, and the tokens handed out. */
interface Seen {
  asked: number;
  handedOut: TokenSet[];
}

/** The README's own hook: the refresh token comes from a request header. */
const APPS: Array<[string, (g: Guard, seen: Seen) => Served]> = [
  [
    'express',
    (g, seen) => {
      const app = express();
      const hooks: ex.ExpressRefreshHooks = {
        getRefreshToken: (req) => {
          seen.asked++;
          return req.headers['x-refresh-token'] as string | undefined;
        },
        onTokens: (_req, res, tokens) => {
          seen.handedOut.push(tokens);
          res.setHeader('x-new-access-token', tokens.accessToken);
        },
      };
      app.get('/api/me', ex.protect(g, undefined, hooks), (req, res) => res.json({ sub: req.auth!.subject }));
      return app;
    },
  ],
  [
    'koa',
    (g, seen) =>
      koaRoutes({
        'GET /api/me': [
          ko.protect(g, undefined, {
            getRefreshToken: (ctx) => {
              seen.asked++;
              return ctx.get('x-refresh-token') || undefined;
            },
            onTokens: (ctx, tokens) => {
              seen.handedOut.push(tokens);
              ctx.set('x-new-access-token', tokens.accessToken);
            },
          }),
          (ctx) => void (ctx.body = { sub: ctx.state.auth!.subject }),
        ],
      }),
  ],
  [
    'fastify',
    (g, seen) => {
      const app = Fastify();
      app.register(fa.tokengate, { guard: g });
      const hooks: fa.FastifyRefreshHooks = {
        getRefreshToken: (request) => {
          seen.asked++;
          return request.headers['x-refresh-token'] as string | undefined;
        },
        onTokens: (_request, reply, tokens) => {
          seen.handedOut.push(tokens);
          reply.header('x-new-access-token', tokens.accessToken);
        },
      };
      app.get('/api/me', { preHandler: fa.protect(g, undefined, hooks) }, async (request) => ({ sub: request.auth!.subject }));
      return fastifyServed(app);
    },
  ],
];

describe.each(APPS)('%s: silent refresh only for a genuine expired token', (_name, makeApp) => {
  let seen: Seen;
  let app: Served;
  beforeEach(() => {
    seen = { asked: 0, handedOut: [] };
    app = makeApp(makeGuard(), seen);
  });

  const expectNoRefresh = (res: request.Response, code: string) => {
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(code);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/);
    expect(res.headers['x-new-access-token']).toBeUndefined();
    expect(seen.handedOut).toEqual([]);
    expect(okta.calls.token).toBe(0);
  };

  test('a hand-made expired JWT with real kid, iss and aud but a junk signature is refused, and the hook is never asked', async () => {
    const { refreshToken } = okta.login();
    const forged = okta.token({ exp: Math.floor(clock.now() / 1000) - 3600 }, { unpublishedKey: true });
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${forged}`).set('x-refresh-token', refreshToken);
    expectNoRefresh(res, 'ERR_SIGNATURE_INVALID');
    expect(seen.asked).toBe(0);
  });

  test('a refresh token of another user is refused: 401, and the new tokens are not handed out', async () => {
    const alice = okta.login({ expiresIn: 60 });
    const mallory = okta.login({ claims: { sub: 'mallory@example.com' } });
    clock.advance(120);
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${alice.accessToken}`).set('x-refresh-token', mallory.refreshToken);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_REFRESH_FAILED');
    expect(res.headers['x-new-access-token']).toBeUndefined();
    expect(seen.handedOut).toEqual([]);
  });

  test('a refresh token of another client is refused', async () => {
    const alice = okta.login({ expiresIn: 60 });
    const other = okta.login({ claims: { cid: '0oaOtherClient' } });
    clock.advance(120);
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${alice.accessToken}`).set('x-refresh-token', other.refreshToken);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_REFRESH_FAILED');
    expect(seen.handedOut).toEqual([]);
  });

  test('a token expired longer ago than refreshWindow is not refreshed', async () => {
    const { accessToken, refreshToken } = okta.login({ expiresIn: 60 });
    clock.advance(60 + 86_400 + 31);
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).set('x-refresh-token', refreshToken);
    expectNoRefresh(res, 'ERR_TOKEN_EXPIRED');
  });

  test('a logged-out token is not refreshed after it expires', async () => {
    const { accessToken, refreshToken } = okta.login({ expiresIn: 60, session: false });
    await guard.logout({ accessToken });
    okta.resetCalls();
    clock.advance(3600);
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).set('x-refresh-token', refreshToken);
    expectNoRefresh(res, 'ERR_TOKEN_REVOKED');
  });

  test('a genuine expired token of the same user and client is refreshed, and the request goes on', async () => {
    const { accessToken, refreshToken } = okta.login({ expiresIn: 60 });
    clock.advance(3600);
    const res = await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).set('x-refresh-token', refreshToken);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sub: 'alice@example.com' });
    expect(res.headers['x-new-access-token']).toBe(seen.handedOut[0].accessToken);
    expect(okta.calls.token).toBe(1);
  });
});

test('refreshWindow is validated and can be narrowed', async () => {
  expect(() => makeGuard({ refreshWindow: -1 })).toThrow('tokengate: option "refreshWindow" must be a number of seconds');
  makeGuard({ refreshWindow: 300 });
  const seen = { asked: 0, handedOut: [] };
  const app = APPS[0][1](guard, seen);
  const { accessToken, refreshToken } = okta.login({ expiresIn: 60 });
  clock.advance(60 + 300 + 31);
  const res = await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).set('x-refresh-token', refreshToken);
  expect(res.body.code).toBe('ERR_TOKEN_EXPIRED');
  expect(okta.calls.token).toBe(0);
});

describe('what the refresh hooks are given, and what is kept', () => {
  test('getRefreshToken gets the verified claims of the expired token, so the app looks up by sub', async () => {
    makeGuard();
    const byUser = new Map<string, string>();
    const app = express();
    app.get(
      '/api/me',
      ex.protect(guard, undefined, {
        getRefreshToken: (_req, expired) => byUser.get(String(expired.sub)),
        onTokens: (_req, _res, tokens) => void byUser.set(String(tokens.auth.subject), tokens.refreshToken),
      }),
      (req, res) => res.json({ sub: req.auth!.subject }),
    );
    const alice = okta.login({ expiresIn: 60 });
    byUser.set('alice@example.com', alice.refreshToken);
    clock.advance(120);
    await request(app).get('/api/me').set('Authorization', `Bearer ${alice.accessToken}`).expect(200, { sub: 'alice@example.com' });
    expect(byUser.get('alice@example.com')).not.toBe(alice.refreshToken);
  });

  test.each([
    ['after exp', 3600, 3700],
    ['before exp, once older than maxTokenAge', 7200, 3700],
  ])('maxTokenAge does not stop a silent refresh %s (the refresh renews the age)', async (_when, lifetime, later) => {
    makeGuard({ maxTokenAge: 3600 });
    const seen = { asked: 0, handedOut: [] as TokenSet[] };
    const app = APPS[0][1](guard, seen);
    const { accessToken, refreshToken } = okta.login({ expiresIn: lifetime });
    clock.advance(later);
    await request(app).get('/api/me').set('Authorization', `Bearer ${accessToken}`).set('x-refresh-token', refreshToken).expect(200);
    expect(seen.handedOut).toHaveLength(1);
  });

  test('an exchange whose new access token fails verification is not sent again within refreshGrace (the refresh token is spent)', async () => {
    makeGuard({ audience: 'api://not-what-okta-issues' });
    const { refreshToken } = okta.login();
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_AUDIENCE_INVALID' });
    await expect(guard.refresh(refreshToken)).rejects.toMatchObject({ code: 'ERR_AUDIENCE_INVALID' });
    expect(okta.calls.token).toBe(1);
  });
});
