import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { createGuard, type Guard } from 'tokengate';
import { backchannelLogout } from 'tokengate/express';
import { mockOkta, type MockOkta } from 'tokengate/testing';

let okta: MockOkta;
let guard: Guard;
beforeEach(() => {
  okta = mockOkta();
  guard = createGuard({ issuer: okta.issuer, audience: okta.audience, client: { clientId: okta.clientId, clientSecret: okta.clientSecret } });
});
afterEach(async () => {
  await guard.close();
  okta.close();
});

const NO_TOKEN = 'The body has no logout_token';

/** What the back-channel receiver says to `logout_token=not-a-jwt` (a form body, or `json`) behind `parsers`. */
async function answerBehind(parsers: RequestHandler[], json = false): Promise<{ status: number; description: string }> {
  const app = express();
  app.post('/backchannel-logout', ...parsers, backchannelLogout(guard));
  const sent = request(app).post('/backchannel-logout');
  const res = await (json ? sent.send({ logout_token: 'not-a-jwt' }) : sent.type('form').send('logout_token=not-a-jwt'));
  return { status: res.status, description: res.body.error_description };
}

test('a ready-made route reads its own form or JSON body: no parser is needed, and one that parsed it into an object is used as it is', async () => {
  const read = await answerBehind([]);
  expect(read).toEqual({ status: 400, description: expect.stringMatching(/not a JWT/) });
  expect(await answerBehind([], true)).toEqual(read);
  // A parser for another type leaves the stream alone (Express 5), and one for this type gives an object.
  expect(await answerBehind([express.json()])).toEqual(read);
  expect(await answerBehind([express.urlencoded()])).toEqual(read);
  expect(await answerBehind([express.json()], true)).toEqual(read);
});

test('a body a parser already consumed counts as empty: an object it left (even {}), or a stream it read into text', async () => {
  const emptyObject: RequestHandler = (req, _res, next) => {
    req.body = {};
    next();
  };
  expect(await answerBehind([emptyObject])).toEqual({ status: 400, description: NO_TOKEN });
  expect(await answerBehind([express.text({ type: '*/*' })])).toEqual({ status: 400, description: NO_TOKEN });
});
