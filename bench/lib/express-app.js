'use strict';
// The Express 5 app every Express contestant serves: GET /api/hello behind the contestant's
// middleware, and one shared error handler. (Express's own final handler prints the stack of every
// error to stderr outside NODE_ENV=test, which would turn the reject workloads into a logging
// benchmark; a real service installs a handler like this one.)

const express = require('express');

function expressApp(...middleware) {
  const app = express();
  app.get('/api/hello', ...middleware, (_req, res) => {
    res.json({ hello: 'world' });
  });
  let logged = 0;
  // eslint-disable-next-line no-unused-vars
  app.use((err, _req, res, _next) => {
    const status = Number(err.status || err.statusCode) || 500;
    if (status >= 500 && logged++ < 3) console.error('[contestant] 500:', err);
    if (err.headers && typeof err.headers === 'object') res.set(err.headers);
    res.status(status).json({ error: err.code || err.name || 'error' });
  });
  return app;
}

/** An Error the shared handler turns into a 401. */
function unauthorized(cause) {
  const error = new Error('Unauthorized', { cause });
  error.status = 401;
  error.headers = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };
  return error;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearer(req) {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return h.slice(7);
}

module.exports = { expressApp, unauthorized, bearer };
