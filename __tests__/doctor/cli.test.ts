import { mockOkta, type MockOkta } from 'tokengate/testing';
import { main } from '../../bin/tokengate';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let okta: MockOkta;
beforeEach(() => {
  okta = mockOkta();
});
afterEach(() => okta.close());

/**
 * Runs `tokengate doctor <token> ...args` in-process, against the mocked Okta, and checks on every
 * run that neither the token nor its signature was printed.
 */
async function doctor(token: string, args: string[] = [], stdin = ''): Promise<Run> {
  const run = await cli(['doctor', token, ...args], stdin);
  const real = token === '-' ? stdin.trim() : token;
  const signature = real.split('.')[2];
  if (signature) expect(run.stdout + run.stderr).not.toContain(signature);
  expect(run.stdout + run.stderr).not.toContain(real);
  return run;
}

async function cli(argv: string[], stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    stdin: async () => stdin,
  });
  return { code, stdout, stderr };
}

const target = () => ['--issuer', okta.issuer, '--audience', okta.audience];

/** The report line of one check, e.g. `FAIL  audience   ERR_AUDIENCE_INVALID: ...`. */
function line(output: string, id: string): string {
  const found = output.split('\n').find((l) => new RegExp(`^(PASS|FAIL|SKIP)  ${id} `).test(l));
  if (found === undefined) throw new Error(`no line for ${id} in:\n${output}`);
  return found;
}

/** The `fix:` line printed under a check. */
function fix(output: string, id: string): string {
  const lines = output.split('\n');
  return lines[lines.indexOf(line(output, id)) + 1].trim();
}

test('passes every check of a good token, prints its header and claims, and exits 0', async () => {
  const run = await doctor(okta.token({ sub: 'bob@example.com' }), target());
  expect(run.code).toBe(0);
  expect(run.stderr).toBe('');
  for (const id of ['format', 'algorithm', 'header', 'issuer', 'audience', 'expiry', 'clock', 'claims', 'keys', 'kid', 'signature', 'guard']) {
    expect(line(run.stdout, id)).toMatch(/^PASS/);
  }
  expect(run.stdout).toContain(`"kid":"${okta.kids[0]}"`);
  expect(run.stdout).toContain('"sub": "bob@example.com"');
  expect(line(run.stdout, 'expiry')).toMatch(/expires in 59 min \d+ s|expires in 1 h/);
  expect(run.stdout).toMatch(/All 12 checks pass: tokengate accepts this token\.\n$/);
});

test('names the audience the token has and the one given when the audience is wrong', async () => {
  const run = await doctor(okta.token({ aud: 'api://billing' }), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'audience')).toBe(
    'FAIL  audience   ERR_AUDIENCE_INVALID: The token is not meant for this API: its "aud" names none of the accepted audiences ' +
      `(the token's aud is "api://billing"; --audience is "api://default")`,
  );
  expect(fix(run.stdout, 'audience')).toMatch(/^fix: Request the token for this API's audience/);
  expect(line(run.stdout, 'signature')).toMatch(/^PASS/);
  expect(line(run.stdout, 'guard')).toBe('FAIL  guard      ERR_AUDIENCE_INVALID: the guard answers 401: The token is not meant for this API: its "aud" names none of the accepted audiences');
});

test('says how long ago an expired token expired', async () => {
  const run = await doctor(okta.token({}, { expiresIn: -7200 }), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'expiry')).toMatch(/^FAIL  expiry     ERR_TOKEN_EXPIRED: The token expired 720\d seconds ago \(exp \d{4}-\d\d-\d\dT[\d:.]+Z, 2 h( \d s)? ago\)$/);
  expect(fix(run.stdout, 'expiry')).toMatch(/^fix: Get a new token/);
});

test('reports every wrong claim type at once, and an exp that is not a number once', async () => {
  const run = await doctor(okta.token({ exp: 'tomorrow', sub: 42, jti: ['x'] } as never), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'expiry')).toMatch(/^FAIL  expiry     ERR_CLAIM_INVALID: The token's "exp" claim must be a number of seconds$/);
  expect(line(run.stdout, 'claims')).toMatch(/ERR_CLAIM_INVALID: The token's "sub" claim must be a string; The token's "jti" claim must be a string$/);
});

test('reports clock skew when iat and nbf lie in the future, each with its message', async () => {
  const now = Math.floor(Date.now() / 1000);
  const run = await doctor(okta.token({ iat: now + 600, nbf: now + 900 }), target());
  expect(run.code).toBe(1);
  const clock = line(run.stdout, 'clock');
  expect(clock).toMatch(/^FAIL  clock      ERR_TOKEN_NOT_YET_VALID: The token is not valid for another 9\d\d seconds \("nbf"\); The token was issued [56]\d\d seconds in the future \("iat"\)/);
  expect(clock).toContain("this machine's clock reads");
  expect(fix(run.stdout, 'clock')).toMatch(/synchronise both with NTP/);
});

test('lists the key ids the JWKS holds when the kid is unknown after a refetch', async () => {
  okta.rotateKeys();
  const run = await doctor(okta.token({}, { header: { kid: 'retired-key' } }), target());
  expect(run.code).toBe(1);
  const [first, second] = okta.kids;
  expect(line(run.stdout, 'kid')).toBe(
    `FAIL  kid        ERR_KEY_UNKNOWN: No key in the issuer's key set has kid "retired-key" for RS256 (after a refetch the key set holds "${first}", "${second}")`,
  );
  expect(line(run.stdout, 'signature')).toBe('SKIP  signature  no key to verify with');
  expect(okta.calls.jwks).toBeGreaterThanOrEqual(2);
});

test('explains a token from the Okta org authorization server', async () => {
  const run = await doctor(okta.token({ iss: okta.orgUrl }), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'issuer')).toMatch(/^FAIL  issuer     ERR_ORG_AUTHORIZATION_SERVER: The token comes from an Okta org authorization server/);
  expect(fix(run.stdout, 'issuer')).toMatch(/custom authorization server .* or validate org tokens by introspection/);
});

test('explains that an org authorization server issuer publishes no usable key', async () => {
  const org = mockOkta({ issuer: 'https://dev-424242.okta.com' });
  try {
    const run = await doctor(org.token({}, { unpublishedKey: true, header: { kid: 'org-key' } }), ['--issuer', org.issuer, '--audience', org.audience]);
    expect(run.code).toBe(1);
    expect(line(run.stdout, 'kid')).toMatch(/^FAIL  kid        ERR_ORG_AUTHORIZATION_SERVER: .*cannot be validated locally/);
  } finally {
    org.close();
  }
});

test('refuses an algorithm outside the allow-list, says how to allow it, and skips the key checks', async () => {
  const ec = mockOkta({ algorithms: ['ES256'] });
  try {
    const token = ec.token();
    const args = ['--issuer', ec.issuer, '--audience', ec.audience];
    const refused = await doctor(token, args);
    expect(refused.code).toBe(1);
    expect(line(refused.stdout, 'algorithm')).toBe('FAIL  algorithm  ERR_ALG_NOT_ALLOWED: The token is signed with "ES256"; allowed: RS256');
    expect(fix(refused.stdout, 'algorithm')).toBe("fix: If your issuer signs with ES256, allow it: algorithms: ['ES256'] (--algorithms ES256). Allow only what the issuer really uses");
    expect(line(refused.stdout, 'kid')).toMatch(/^SKIP/);
    expect(line(refused.stdout, 'signature')).toMatch(/^SKIP/);

    const allowed = await doctor(token, [...args, '--algorithms', 'ES256']);
    expect(allowed.code).toBe(0);
  } finally {
    ec.close();
  }
});

test('never accepts alg none, and says so', async () => {
  const good = okta.token();
  const [, payload] = good.split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
  const run = await doctor(none, target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'algorithm')).toMatch(/ERR_ALG_NOT_ALLOWED: The token is signed with "none"/);
  expect(fix(run.stdout, 'algorithm')).toMatch(/^fix: Unsigned and shared-secret \(HMAC\) tokens are never accepted/);
});

test('reports a signature that does not verify with the published key', async () => {
  const run = await doctor(okta.token({}, { unpublishedKey: true }), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'kid')).toMatch(/^PASS/);
  expect(line(run.stdout, 'signature')).toBe('FAIL  signature  ERR_SIGNATURE_INVALID: The token signature is invalid');
  expect(fix(run.stdout, 'signature')).toMatch(/^fix: The token was altered, or signed by a different key/);
});

test('requires the session claim when --session-claim is given, and says how to add it', async () => {
  const missing = await doctor(okta.token(), [...target(), '--session-claim', 'okta_sid']);
  expect(missing.code).toBe(1);
  expect(line(missing.stdout, 'session')).toMatch(/^FAIL  session    ERR_SESSION_CLAIM_MISSING: The token carries no usable "okta_sid" claim/);
  expect(fix(missing.stdout, 'session')).toMatch(/Token Inline Hook: .*"path": "\/claims\/okta_sid", "value": data\.context\.session\.id/);

  const present = await doctor(okta.token({ okta_sid: okta.session().id }), [...target(), '--session-claim', 'okta_sid']);
  expect(present.code).toBe(0);
  expect(line(present.stdout, 'session')).toBe('PASS  session    the session claim "okta_sid" is present');
});

test('reports the scopes missing for --scopes, and what the token grants', async () => {
  const run = await doctor(okta.token({ scp: ['orders:read'] }), [...target(), '--scopes', 'orders:read,orders:write,admin']);
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'scopes')).toBe('FAIL  scopes     ERR_INSUFFICIENT_SCOPE: The token lacks the scopes orders:write, admin (granted: orders:read)');
  expect(line(run.stdout, 'guard')).toMatch(/ERR_INSUFFICIENT_SCOPE: the guard answers 403/);

  const enough = await doctor(okta.token({ scp: ['orders:read'], scope: 'orders:write' }), [...target(), '--scopes', 'orders:read,orders:write']);
  expect(enough.code).toBe(0);
});

test('reports every problem of a token at once, not only the first', async () => {
  const run = await doctor(okta.token({ aud: 'api://billing', iss: 'https://elsewhere.example.com' }, { expiresIn: -60, unpublishedKey: true }), target());
  expect(run.code).toBe(1);
  for (const id of ['issuer', 'audience', 'expiry', 'signature']) expect(line(run.stdout, id)).toMatch(/^FAIL/);
  expect(line(run.stdout, 'issuer')).toMatch(/the token's iss is "https:\/\/elsewhere\.example\.com"; --issuer is /);
  expect(run.stdout).toMatch(/5 of 12 checks fail: tokengate rejects this token\.\n$/);
});

test('--json prints a machine-readable report with the header and claims, never the signature', async () => {
  const run = await doctor(okta.token({ aud: 'api://billing' }), [...target(), '--json', '--scopes', 'openid']);
  expect(run.code).toBe(1);
  const report = JSON.parse(run.stdout);
  expect(report).toMatchObject({ ok: false, issuer: okta.issuer, audiences: [okta.audience], header: { alg: 'RS256' }, claims: { aud: 'api://billing' } });
  expect(report.checks.map((c: { id: string }) => c.id)).toEqual([
    'format', 'algorithm', 'header', 'issuer', 'audience', 'expiry', 'clock', 'claims', 'keys', 'kid', 'signature', 'scopes', 'guard',
  ]);
  expect(report.checks.find((c: { id: string }) => c.id === 'audience')).toMatchObject({ status: 'fail', code: 'ERR_AUDIENCE_INVALID', fix: expect.any(String) });
  expect(report.checks.find((c: { id: string }) => c.id === 'scopes')).toMatchObject({ status: 'pass' });

  const good = JSON.parse((await doctor(okta.token(), [...target(), '--json'])).stdout);
  expect(good.ok).toBe(true);
});

test('reports a token that is not a JWT, and says opaque tokens need introspection', async () => {
  const run = await doctor(okta.opaqueToken(), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'format')).toBe('FAIL  format     ERR_TOKEN_MALFORMED: The token is not a JWT: it must have three dot-separated parts');
  expect(fix(run.stdout, 'format')).toMatch(/validated only by introspection/);
  expect(line(run.stdout, 'signature')).toBe('SKIP  signature  the token could not be decoded');
});

test('a token that starts with "-" or "--" is the token, not short or unknown long options', async () => {
  // base64url has "-" in its alphabet: an opaque token (or a JWT's header) may start with one or two.
  const body = okta.opaqueToken().replace(/^-+/, '');
  for (const token of [`-${body}`, `--${body}`, `-_${body}`, `--X${body}`]) {
    const run = await doctor(token, target());
    expect(run.stderr).toBe('');
    expect(line(run.stdout, 'format')).toBe('FAIL  format     ERR_TOKEN_MALFORMED: The token is not a JWT: it must have three dot-separated parts');
    const after = await cli(['doctor', ...target(), token]);
    expect(after.stderr).toBe('');
    expect(line(after.stdout, 'format')).toMatch(/^FAIL  format     ERR_TOKEN_MALFORMED/);
  }
  expect((await cli(['doctor', ...target(), '--', '-abc'])).stdout).toMatch(/FAIL  format/);
  // An option's shape is still an option: a misspelt one is reported, not taken for the token.
  const typo = await cli(['doctor', okta.opaqueToken(), ...target(), '--isuer=x']);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/isuer/);
});

test('reports an unreachable issuer as a key-set failure, not as the token\'s fault', async () => {
  okta.fail('discovery', 'down');
  const run = await doctor(okta.token(), target());
  expect(run.code).toBe(1);
  expect(line(run.stdout, 'audience')).toMatch(/^PASS/);
  expect(line(run.stdout, 'keys')).toMatch(/^FAIL  keys       ERR_KEYS_UNAVAILABLE: No signing keys are available from the issuer: discovery failed/);
  expect(fix(run.stdout, 'keys')).toMatch(/--jwks-uri/);
  expect(line(run.stdout, 'guard')).toMatch(/ERR_KEYS_UNAVAILABLE: the guard answers 503/);
});

test('--jwks-uri skips discovery', async () => {
  okta.fail('discovery', 'down');
  const run = await doctor(okta.token(), [...target(), '--jwks-uri', okta.jwksUri]);
  expect(run.code).toBe(0);
  expect(okta.calls.discovery).toBe(0);
});

test('reads the token from standard input when it is given as -', async () => {
  const run = await doctor('-', target(), `${okta.token()}\n`);
  expect(run.code).toBe(0);
});

describe('bad arguments get a usage message on stderr and exit 2, never a stack trace', () => {
  test.each([
    ['no arguments', [], 'no command given'],
    ['an unknown command', ['inspect', 'x'], 'unknown command "inspect"'],
    ['no token', ['doctor', '--issuer', 'https://example.okta.com/oauth2/default', '--audience', 'api://default'], 'no token given'],
    ['no issuer', ['doctor', 'a.b.c', '--audience', 'api://default'], '--issuer is required'],
    ['no audience', ['doctor', 'a.b.c', '--issuer', 'https://example.okta.com/oauth2/default'], '--audience is required'],
    ['an unknown option', ['doctor', 'a.b.c', '--audiance', 'x'], "Unknown option '--audiance'"],
    ['an option without its value', ['doctor', 'a.b.c', '--issuer'], "Option '--issuer <value>' argument missing"],
    ['two tokens', ['doctor', 'a.b.c', 'd.e.f', '--issuer', 'https://example.okta.com/oauth2/default', '--audience', 'x'], 'give one token'],
    ['a plain-http issuer', ['doctor', 'a.b.c', '--issuer', 'http://example.okta.com/oauth2/default', '--audience', 'x'], 'option "issuer" must use https:'],
    ['a bad clock tolerance', ['doctor', 'a.b.c', '--issuer', 'https://example.okta.com/oauth2/default', '--audience', 'x', '--clock-tolerance', 'soon'], 'option "clockTolerance" must be a number'],
    ['an HMAC algorithm', ['doctor', 'a.b.c', '--issuer', 'https://example.okta.com/oauth2/default', '--audience', 'x', '--algorithms', 'HS256'], 'may not contain "HS256"'],
    ['a scope with a quote', ['doctor', 'a.b.c', '--issuer', 'https://example.okta.com/oauth2/default', '--audience', 'x', '--scopes', 'a"b'], 'policy "scopes" must be an array of scope names'],
  ])('%s', async (_name, argv, message) => {
    const run = await cli(argv);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')[0]).toContain(message);
    expect(run.stderr).toMatch(/^tokengate: /);
    expect(run.stderr).toContain('Usage: tokengate doctor <token | -> --issuer <url> --audience <aud> [options]');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  test('--help prints the usage on stdout and exits 0', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: tokengate doctor/);
    expect(run.stderr).toBe('');
  });
});

describe('several issuers', () => {
  let other: MockOkta;
  beforeEach(() => {
    other = mockOkta({ audience: okta.audience });
  });
  afterEach(() => other.close());

  test('the token\'s iss picks the issuer whose keys are checked, and the guard accepts it', async () => {
    for (const args of [['--issuer', `${okta.issuer},${other.issuer}`], ['--issuer', okta.issuer, '--issuer', other.issuer]]) {
      const run = await doctor(other.token(), [...args, '--audience', okta.audience, '--json']);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report).toMatchObject({ ok: true, issuer: other.issuer, issuers: [okta.issuer, other.issuer] });
    }
    expect(okta.calls.discovery).toBe(0);
  });

  test('a token naming none of them fails the issuer check with ERR_ISSUER_UNKNOWN, and nothing is fetched', async () => {
    const stranger = mockOkta({ audience: okta.audience });
    try {
      const run = await doctor(stranger.token(), ['--issuer', `${okta.issuer},${other.issuer}`, '--audience', okta.audience]);
      expect(run.code).toBe(1);
      expect(line(run.stdout, 'issuer')).toMatch(/^FAIL  issuer     ERR_ISSUER_UNKNOWN: .*--issuer is one of/);
      expect(fix(run.stdout, 'issuer')).toMatch(/to the issuer list/);
      expect(line(run.stdout, 'keys')).toMatch(/^SKIP  keys .*nothing is fetched/);
      expect(line(run.stdout, 'guard')).toMatch(/ERR_ISSUER_UNKNOWN: the guard answers 401/);
      for (const mock of [okta, other, stranger]) expect(mock.calls.discovery + mock.calls.jwks).toBe(0);
    } finally {
      stranger.close();
    }
  });

  test('an iss one trailing slash away from a configured issuer says so', async () => {
    const run = await doctor(okta.token({ iss: `${okta.issuer}/` }), ['--issuer', `${okta.issuer},${other.issuer}`, '--audience', okta.audience]);
    expect(line(run.stdout, 'issuer')).toMatch(/ERR_ISSUER_UNKNOWN/);
    expect(fix(run.stdout, 'issuer')).toMatch(/only by a trailing slash/);
  });
});
