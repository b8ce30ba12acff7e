import { IncomingMessage } from 'node:http';

/**
 * Makes `req.auth = result` cheap on Express requests, once per Express copy, without changing
 * what it means.
 *
 * Express gives every request object a hidden class of its own (it swaps the prototype of each
 * `req`), so adding a property to a `req` builds a new hidden class on every request: about 16 000
 * machine instructions, 2 % of a small Express request, for the one `auth` property (measured with
 * callgrind; see the README's performance notes). An accessor on Express's shared request
 * prototype (`express.request`, the object right above Node's `IncomingMessage.prototype`) turns
 * the assignment into a call that files the value under the request in a `WeakMap`; reading it
 * back does the reverse. Per request object it behaves as a plain property: unset reads
 * `undefined`, each request sees only its own value, and the value goes when the request is
 * collected. It is not an own property, so `Object.keys(req)` does not list it.
 *
 * Nothing is installed when the request is not an Express one (no such prototype), or when that
 * prototype already has an `auth` of its own (another copy of tokengate, or another library):
 * then the assignment creates a plain property, as before.
 */
export function prepareAuthProperty(req: object): void {
  let proto: object | null = Object.getPrototypeOf(req) as object | null;
  while (proto !== null && Object.getPrototypeOf(proto) !== IncomingMessage.prototype) proto = Object.getPrototypeOf(proto) as object | null;
  if (proto === null || Object.prototype.hasOwnProperty.call(proto, 'auth')) return;
  const values = new WeakMap<object, unknown>();
  Object.defineProperty(proto, 'auth', {
    configurable: true,
    enumerable: false,
    get(this: object): unknown {
      return values.get(this);
    },
    set(this: object, value: unknown) {
      values.set(this, value);
    },
  });
}
