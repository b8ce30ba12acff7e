import request from 'supertest';
import { createGuard, createHttpClient, type Guard, type GuardOptions, type HttpClient } from 'tokengate';
import { mockOkta, type MockOkta } from 'tokengate/testing';
import { ADAPTERS, expressApp, type Served } from '../helpers';

// Several issuers through every adapter: the token's unverified `iss` picks the issuer before
// anything is fetched; an `iss` the guard does not accept is a 401 with zero outgoing requests.

/** tokengate's default HTTP client, recording the URL of every request the guard sends. */
function recordingClient(): { client: HttpClient; urls: string[] } {
  const urls: string[] = [];
  const inner = createHttpClient();
  return {
    urls,
    client: {
      request(req) {
        urls.push(req.url);
        return inner.request(req);
      },
    },
  };
}

const UNKNOWN_CHALLENGE = /^Bearer realm="api", error="invalid_token", error_description="The token's issuer is not one this API accepts", DPoP algs="[^"]+"$/;

describe.each(ADAPTERS)('%s adapter, several issuers', (_name, makeApp) => {
  let a: MockOkta;
  let b: MockOkta;
  let stranger: MockOkta;
  let guard: Guard;
  let app: Served;
  let sent: string[];

  beforeAll(() => {
    a = mockOkta({ audience: 'api://a' });
    b = mockOkta({ audience: 'api://b' });
    stranger = mockOkta({ audience: 'api://a' });
    const { client, urls } = recordingClient();
    sent = urls;
    guard = createGuard({ issuers: [{ issuer: a.issuer, audience: a.audience }, { issuer: b.issuer, audience: b.audience }], http: client });
    app = makeApp(guard, { '/api/hello': undefined, '/api/a-only': { issuer: a.issuer } });
  });

  afterAll(async () => {
    await guard.close();
    for (const okta of [a, b, stranger]) okta.close();
  });

  const get = (token: string, path = '/api/hello') => request(app).get(path).set('Authorization', `Bearer ${token}`);

  test('a token of each issuer passes, and the route learns which issuer it came from', async () => {
    for (const okta of [a, b]) {
      const res = await get(okta.token());
      expect(res.status).toBe(200);
      expect(res.body.issuer).toBe(okta.issuer);
      expect(res.body.subject).toBe('alice@example.com');
    }
    // The recorder sees what the guard fetches: each issuer's own discovery and keys.
    expect(sent.filter((url) => url.startsWith(a.issuer)).length).toBe(2);
    expect(sent.filter((url) => url.startsWith(b.issuer)).length).toBe(2);
  });

  test("each issuer checks its own audience: A's token for B's audience is refused", async () => {
    const res = await get(a.token({ aud: b.audience }));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_AUDIENCE_INVALID');
  });

  test('a token of an issuer not configured is a 401 ERR_ISSUER_UNKNOWN, and nothing is fetched', async () => {
    const before = sent.length;
    const res = await get(stranger.token());
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_ISSUER_UNKNOWN');
    expect(res.headers['www-authenticate']).toMatch(UNKNOWN_CHALLENGE);
    expect(sent.length).toBe(before);
    expect(stranger.calls.discovery).toBe(0);
    expect(stranger.calls.jwks).toBe(0);
  });

  test('an attacker-chosen iss, or none at all, is refused without a request', async () => {
    const before = sent.length;
    const forged = await get(a.token({ iss: 'https://attacker.example/oauth2/default' }));
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('ERR_ISSUER_UNKNOWN');
    const none = await get(a.token({ iss: undefined }));
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('ERR_ISSUER_UNKNOWN');
    expect(sent.length).toBe(before);
  });

  test("a route whose policy requires issuer A refuses B's token with 403 ERR_ISSUER_NOT_ALLOWED", async () => {
    expect((await get(a.token(), '/api/a-only')).status).toBe(200);
    const res = await get(b.token(), '/api/a-only');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_ISSUER_NOT_ALLOWED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="insufficient_scope", error_description="The token comes from an issuer this route does not accept"/);
  });

  test('stats() counts per issuer, and the top level adds them up', async () => {
    await get(a.token());
    await get(b.token());
    const stats = guard.stats();
    expect(Object.keys(stats.issuers ?? {}).sort()).toEqual([a.issuer, b.issuer].sort());
    const perIssuer = Object.values(stats.issuers ?? {});
    for (const one of perIssuer) {
      expect(one.keys.fetches).toBe(1);
      expect(one.tokenCache.size).toBeGreaterThan(0);
    }
    expect(stats.tokenCache.size).toBe(perIssuer.reduce((sum, one) => sum + one.tokenCache.size, 0));
    expect(stats.keys.kids.sort()).toEqual([...a.kids, ...b.kids].sort());
  });
});

describe.each(ADAPTERS)('%s adapter, the function form of issuer', (_name, makeApp) => {
  let a: MockOkta;
  let b: MockOkta;
  let refused: MockOkta;
  const guards: Guard[] = [];
  let asked: string[];

  beforeEach(() => {
    a = mockOkta();
    b = mockOkta();
    refused = mockOkta();
    asked = [];
  });

  afterEach(async () => {
    await Promise.all(guards.splice(0).map((guard) => guard.close()));
    for (const okta of [a, b, refused]) okta.close();
  });

  const make = (options: Partial<GuardOptions>) => {
    const guard = createGuard({
      audience: 'api://default',
      issuer: (iss) => {
        asked.push(iss);
        return iss === a.issuer || iss === b.issuer;
      },
      ...options,
    });
    guards.push(guard);
    return { guard, app: makeApp(guard) };
  };
  const get = (app: Served, token: string) => request(app).get('/api/hello').set('Authorization', `Bearer ${token}`);

  test('an iss the function refuses is a 401 ERR_ISSUER_UNKNOWN, and nothing is fetched', async () => {
    const { client, urls } = recordingClient();
    const { app } = make({ http: client });
    const res = await get(app, refused.token());
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_ISSUER_UNKNOWN');
    expect(res.headers['www-authenticate']).toMatch(UNKNOWN_CHALLENGE);
    expect(urls).toEqual([]);
    expect(refused.calls.discovery).toBe(0);
    expect(asked).toEqual([refused.issuer]);
  });

  test('an iss that is not an https URL is refused without asking the function', async () => {
    const { app } = make({});
    const res = await get(app, a.token({ iss: 'http://attacker.example/' }));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_ISSUER_UNKNOWN');
    expect(asked).toEqual([]);
  });

  test('what the function allows is remembered, at most maxIssuers of them', async () => {
    const { guard, app } = make({ maxIssuers: 1 });
    const first = await get(app, a.token());
    expect(first.status).toBe(200);
    expect(first.body.issuer).toBe(a.issuer);
    expect((await get(app, a.token())).status).toBe(200);
    expect(asked).toEqual([a.issuer]);
    expect(a.calls.discovery).toBe(1);

    expect((await get(app, b.token())).status).toBe(200);
    expect(Object.keys(guard.stats().issuers ?? {})).toEqual([b.issuer]);
    // A was evicted to make room for B: its next token asks the function again and reloads its keys.
    expect((await get(app, a.token())).status).toBe(200);
    expect(asked).toEqual([a.issuer, b.issuer, a.issuer]);
    expect(a.calls.jwks).toBe(2);
  });
});

describe('several issuers, bad configuration', () => {
  const a = 'https://a.example.com/oauth2/default';
  const b = 'https://b.example.com/oauth2/default';
  const rows: Array<[string, Partial<GuardOptions>, RegExp]> = [
    ['an empty issuer list', { issuer: [] }, /option "issuer" must not be empty/],
    ['an empty issuers list', { issuers: [] }, /option "issuers" must not be empty/],
    ['the same issuer twice', { issuer: [a, a] }, /option "issuer\[1\]" repeats the issuer "https:\/\/a\.example\.com\/oauth2\/default"/],
    ['the same issuer twice in issuers', { issuers: [{ issuer: a }, { issuer: b }, { issuer: b }] }, /option "issuers\[2\]" repeats the issuer/],
    ['both issuer and issuers', { issuer: a, issuers: [{ issuer: b }] }, /give either "issuer" or "issuers", not both/],
    ['a plain http issuer', { issuers: [{ issuer: a }, { issuer: 'http://b.example.com/' }] }, /option "issuers\[1\]\.issuer" must use https:/],
    ['a plain http issuer in the list', { issuer: [a, 'http://b.example.com/'] }, /option "issuer\[1\]\.issuer" must use https:/],
    ['an unknown per-issuer setting', { issuers: [{ issuer: a, audiences: 'x' } as never] }, /issuers\[0\]\.audiences/],
    ['opaque tokens by introspection with several issuers', { issuer: [a, b], audience: 'x', introspection: { client: { clientId: 'c', clientSecret: 's' }, opaque: true } }, /option "introspection.opaque" needs a single issuer/],
    ['opaque tokens at one of several issuers', { audience: 'x', issuers: [{ issuer: a, introspection: { client: { clientId: 'c', clientSecret: 's' }, opaque: true } }, { issuer: b }] }, /option "issuers\[0\].introspection.opaque" needs a single issuer/],
    ['maxIssuers without the function form', { issuer: [a, b], maxIssuers: 5 }, /option "maxIssuers" applies only to the function form of "issuer"/],
    ['maxIssuers below 1', { issuer: () => true, maxIssuers: 0 }, /maxIssuers/],
    ['a guard-wide jwksUri with several issuers', { issuer: [a, b], jwksUri: `${a}/v1/keys` }, /option "jwksUri" names one issuer's keys/],
    ['a policy requiring an issuer the guard does not accept', { issuer: [a, b], policy: { issuer: 'https://c.example.com/' } }, /a policy requires the issuer "https:\/\/c\.example\.com\/", which the guard does not accept/],
  ];

  test.each(rows)('%s is a TypeError naming the option', (_row, options, message) => {
    const build = () => createGuard({ audience: 'api://default', ...options } as GuardOptions);
    expect(build).toThrow(TypeError);
    expect(build).toThrow(message);
  });

  test('an issuer without an audience of its own needs the guard-wide one', () => {
    expect(() => createGuard({ issuers: [{ issuer: a, audience: 'api://a' }, { issuer: b }] })).toThrow(/option "issuers\[1\]\.audience" is required when there is no guard-wide "audience"/);
  });

  test('a function returning settings for another issuer is a TypeError at the first token', async () => {
    const okta = mockOkta();
    const guard = createGuard({ audience: okta.audience, issuer: () => ({ issuer: 'https://elsewhere.example.com/' }) });
    try {
      const res = await request(expressApp(guard)).get('/api/hello').set('Authorization', `Bearer ${okta.token()}`);
      expect(res.status).toBe(500);
      expect(okta.calls.discovery).toBe(0);
    } finally {
      await guard.close();
      okta.close();
    }
  });
});

describe.each(ADAPTERS)('%s adapter, per-issuer strict sessions and introspection', (_name, makeApp) => {
  let a: MockOkta;
  let b: MockOkta;
  let guard: Guard;
  let app: Served;

  beforeEach(() => {
    // One org with its own API token and client; a second whose settings are inherited from the guard.
    a = mockOkta();
    b = mockOkta({ apiToken: 'guard-wide-api-token', clientId: '0oa-guard-wide', clientSecret: 'guard-wide-secret' });
    guard = createGuard({
      audience: 'api://default',
      sessions: { apiToken: 'guard-wide-api-token', cacheTtl: 0 },
      introspection: { client: { clientId: '0oa-guard-wide', clientSecret: 'guard-wide-secret' }, cacheTtl: 0 },
      issuers: [
        { issuer: a.issuer, sessions: { apiToken: a.apiToken, cacheTtl: 0 }, introspection: { client: { clientId: a.clientId, clientSecret: a.clientSecret }, cacheTtl: 0 } },
        { issuer: b.issuer },
      ],
    });
    app = makeApp(guard, { '/strict': { session: 'strict' }, '/checked': { introspect: true } });
  });

  afterEach(async () => {
    await guard.close();
    a.close();
    b.close();
  });

  const get = (path: string, token: string) => request(app).get(path).set('Authorization', `Bearer ${token}`);

  test('each issuer\'s session is checked at its own org, with its own or the inherited API token', async () => {
    const sa = a.session();
    const sb = b.session();
    const ta = a.token({ sid: sa.id });
    const tb = b.token({ sid: sb.id });
    await get('/strict', ta).expect(200);
    await get('/strict', tb).expect(200);
    expect([a.calls.sessions, b.calls.sessions]).toEqual([1, 1]);

    b.endSession(sb.id);
    const refused = await get('/strict', tb);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token", error_description="The Okta session of this token has ended/);
    await get('/strict', ta).expect(200);
    expect([a.calls.sessions, b.calls.sessions]).toEqual([2, 2]);
  });

  test('each issuer\'s token is introspected at its own issuer, with its own or the inherited client', async () => {
    const ta = a.token();
    const tb = b.token();
    await get('/checked', ta).expect(200);
    await get('/checked', tb).expect(200);
    expect([a.calls.introspect, b.calls.introspect]).toEqual([1, 1]);
    a.revoke(ta);
    const refused = await get('/checked', ta);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/error_description="The token is not active/);
    await get('/checked', tb).expect(200);
    expect([a.calls.introspect, b.calls.introspect]).toEqual([2, 2]);
  });
});

test('what only one issuer can do is a TypeError with several, saying to build one guard per issuer', async () => {
  const guard = createGuard({ issuer: ['https://a.example.com/oauth2/default', 'https://b.example.com/oauth2/default'], audience: 'api://default' });
  try {
    expect(() => guard.ssfReceiver({ audience: 'https://api.example.com' })).toThrow(/ssfReceiver\(\) works with a guard of a single issuer; build one guard per issuer/);
    expect(() => guard.oktaEventHook({ secret: 'x'.repeat(32) })).toThrow(/oktaEventHook\(\) works with a guard of a single issuer/);
    expect(() => guard.backchannelLogout('x')).toThrow(/backchannelLogout\(\) works with a guard of a single issuer/);
    expect(() => guard.logout({})).toThrow(/logout\(\) works with a guard of a single issuer/);
    await expect(guard.refresh('x')).rejects.toThrow(/needs a guard with a single issuer/);
  } finally {
    await guard.close();
  }
});
