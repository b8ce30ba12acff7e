import nock from 'nock';

/**
 * nock is an optional peer dependency of `tokengate/testing`, loaded only inside mockOkta(). Each
 * test loads a fresh copy of the kit (jest.isolateModules) with a stand-in for nock or its
 * package.json, and the stand-ins are removed after every test, so nothing leaks into other tests.
 */
type Testing = typeof import('../../lib/testing');
type Core = typeof import('../../lib');

const INSTALL = /npm i -D nock@~14\.0\.17/;

/** Runs `body` against a fresh copy of the kit; every require, mockOkta()'s own included, happens inside the isolation. */
async function withKit(mocks: { nock?: () => unknown; pkg?: () => unknown }, body: (kit: { testing: Testing; core: Core }) => Promise<void> | void): Promise<void> {
  await jest.isolateModulesAsync(async () => {
    if (mocks.nock !== undefined) jest.doMock('nock', mocks.nock);
    if (mocks.pkg !== undefined) jest.doMock('nock/package.json', mocks.pkg);
    await body({ testing: require('../../lib/testing'), core: require('../../lib') });
  });
}

afterEach(() => {
  jest.dontMock('nock');
  jest.dontMock('nock/package.json');
});

const cannotLoad = () => {
  throw Object.assign(new Error("Cannot find module 'nock' from 'lib/testing/mock-okta.ts'"), { code: 'MODULE_NOT_FOUND' });
};

test('tokengate/testing loads, and startDevIssuer() works, when nock cannot be loaded', async () => {
  await withKit({ nock: cannotLoad }, async ({ testing, core }) => {
    const dev = await testing.startDevIssuer();
    const guard = core.createGuard({ issuer: dev.issuer, audience: dev.okta.audience });
    try {
      await expect(guard.verifyToken(dev.okta.token({ sub: 'carol@example.com' }))).resolves.toMatchObject({ subject: 'carol@example.com' });
      // Only mockOkta() needs nock, and it says so.
      expect(() => testing.mockOkta()).toThrow(/nock 14\.\d+\.\d+ is installed but could not be loaded \(Cannot find module 'nock'/);
      expect(() => testing.mockOkta()).toThrow(INSTALL);
    } finally {
      await guard.close();
      await dev.close();
    }
  });
});

test.each(['15.0.1', '15.0.2', '15.0.6', '16.0.0', '13.5.6', '15.0.0-beta.1', '14.1.0-rc.0'])(
  'mockOkta() refuses nock %s, naming it and the version to install',
  (version) =>
    withKit({ pkg: () => ({ name: 'nock', version }), nock: () => nock }, ({ testing }) => {
      let error: unknown;
      try {
        testing.mockOkta();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(`nock ${version} is installed`);
      expect((error as Error).message).toContain(testing.SUPPORTED_NOCK);
      expect((error as Error).message).toMatch(INSTALL);
    }),
);

test.each(['14.0.0', '14.0.17', '14.9.3', '15.0.0'])('mockOkta() accepts nock %s', (version) =>
  withKit({ pkg: () => ({ name: 'nock', version }), nock: () => nock }, ({ testing }) => {
    testing.mockOkta().close();
  }),
);

test('mockOkta() works with nock loaded as an ES module namespace (require(esm))', () =>
  withKit({ pkg: () => ({ name: 'nock', version: '15.0.0' }), nock: () => ({ __esModule: true, default: nock }) }, async ({ testing, core }) => {
    const okta = testing.mockOkta();
    const guard = core.createGuard({ issuer: okta.issuer, audience: okta.audience });
    try {
      await expect(guard.verifyToken(okta.token())).resolves.toMatchObject({ subject: 'alice@example.com' });
    } finally {
      await guard.close();
      okta.close();
    }
  }));

test('mockOkta() refuses a module that is not nock', () =>
  withKit({ pkg: () => ({ name: 'nock', version: '14.0.17' }), nock: () => ({ hello: 'world' }) }, ({ testing }) => {
    expect(() => testing.mockOkta()).toThrow(/not nock's API.*npm i -D nock@~14\.0\.17/);
  }));

test('the peer range in package.json is the one mockOkta() enforces', () =>
  withKit({}, ({ testing }) => {
    expect(require('../../package.json').peerDependencies.nock).toBe(testing.SUPPORTED_NOCK);
  }));

test('the stand-ins do not outlive the tests: nock and its package.json are the real ones again', () =>
  withKit({}, ({ testing }) => {
    expect(require('nock/package.json').version).toMatch(/^14\./);
    const okta = testing.mockOkta();
    okta.close();
  }));
