'use strict';
// Reference, not a library: the least an RS256 check can cost in Express. Split the token, parse
// header and payload, one synchronous crypto.verify with a key fetched at start-up, next(). No claim
// checks, no cache, no kid lookup. Its ratio is the "crypto.verify limit" on this machine.
const crypto = require('node:crypto');
const { expressApp, unauthorized, bearer } = require('../lib/express-app');

module.exports = {
  name: 'floor: bare crypto.verify',
  framework: 'express',
  reference: true,
  create: async ({ jwksUri }) => {
    const jwks = await (await fetch(jwksUri)).json();
    const key = crypto.createPublicKey({ key: jwks.keys[0], format: 'jwk' });
    return expressApp((req, _res, next) => {
      const token = bearer(req);
      const a = token === undefined ? -1 : token.indexOf('.');
      const b = a < 0 ? -1 : token.indexOf('.', a + 1);
      if (b < 0) return next(unauthorized());
      let claims;
      try {
        JSON.parse(Buffer.from(token.slice(0, a), 'base64url').toString());
        claims = JSON.parse(Buffer.from(token.slice(a + 1, b), 'base64url').toString());
      } catch {
        return next(unauthorized());
      }
      if (!crypto.verify('sha256', Buffer.from(token.slice(0, b)), key, Buffer.from(token.slice(b + 1), 'base64url'))) return next(unauthorized());
      // The claims go to res.locals: adding an own property to req costs Express ~6-8 % by itself.
      req.res.locals.auth = claims;
      next();
    });
  },
};

