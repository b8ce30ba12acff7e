'use strict';
// Where the benchmarks load tokengate from: the compiled package in dist/ (npm run build), or
// BENCH_TOKENGATE_DIR=<another dist/> (and BENCH_TOKENGATE_COMMIT to record its commit) to compare
// two builds, e.g. a branch against main.
const path = require('node:path');

const dir = process.env.BENCH_TOKENGATE_DIR ? path.resolve(process.env.BENCH_TOKENGATE_DIR) : path.join(__dirname, '..', '..', 'dist');

module.exports = {
  dir,
  lib: () => require(path.join(dir, 'lib', 'index.js')),
  express: () => require(path.join(dir, 'adapters', 'express.js')),
  koa: () => require(path.join(dir, 'adapters', 'koa.js')),
  fastify: () => require(path.join(dir, 'adapters', 'fastify.js')),
  otel: () => require(path.join(dir, 'lib', 'otel.js')),
  testing: () => require(path.join(dir, 'lib', 'testing', 'index.js')),
  redis: () => require(path.join(dir, 'lib', 'redis.js')),
};
