/** Jest runs the TypeScript sources through ts-jest. jose 6 is ESM-only, so it is transformed too. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__', '<rootDir>/examples'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true, esModuleInterop: true } }] },
  // nock's interceptor lives on the global scope across test files; keep Jest from soft-deleting it.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  // openid-client 6 and oauth4webapi (the real-client tests) are ESM-only as well.
  transformIgnorePatterns: ['/node_modules/(?!(jose|openid-client|oauth4webapi)/)'],
  moduleNameMapper: {
    '^tokengate$': '<rootDir>/lib/index.ts',
    '^tokengate/express$': '<rootDir>/adapters/express.ts',
    '^tokengate/koa$': '<rootDir>/adapters/koa.ts',
    '^tokengate/fastify$': '<rootDir>/adapters/fastify.ts',
    '^tokengate/testing$': '<rootDir>/lib/testing/index.ts',
    '^tokengate/redis$': '<rootDir>/lib/redis.ts',
    '^tokengate/otel$': '<rootDir>/lib/otel.ts',
  },
  setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'],
  testTimeout: 15000,
};
