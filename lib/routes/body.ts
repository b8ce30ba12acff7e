import { LogoutTokenError } from '../errors';
import type { RequestLike } from '../util/request';

/** A request whose body can be read: Node's `IncomingMessage` (Express `req`, Koa `ctx.req`), with `body` when a parser already ran. */
export type BodyRequest = RequestLike & AsyncIterable<Buffer | string> & { body?: unknown };

const MAX_BODY = 16_384;

/**
 * Reads a small JSON or form body (at most 16 KiB) into an object; a body already parsed by a
 * framework parser is used as it is. Anything else is an empty object.
 */
export async function readBody(request: BodyRequest, parsed?: unknown): Promise<Record<string, unknown>> {
  const already = parsed ?? request.body;
  if (already !== null && typeof already === 'object' && !Buffer.isBuffer(already)) return already as Record<string, unknown>;
  let text = '';
  for await (const chunk of request) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (text.length > MAX_BODY) throw new LogoutTokenError(400, `The request body is over ${MAX_BODY} bytes`);
  }
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    try {
      const value = JSON.parse(text) as unknown;
      return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    } catch {
      throw new LogoutTokenError(400, 'The request body is not valid JSON');
    }
  }
  if (type.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  return {};
}

/**
 * Reads a body as text, at most `maxBytes` bytes (counted as received, before decoding): a body a
 * framework parser already read as text (or a Buffer) is used as it is, any other parsed body is
 * `undefined` (it was not text). `tooLarge` is thrown past the limit.
 */
export async function readText(request: BodyRequest, parsed: unknown, maxBytes: number, tooLarge: () => Error): Promise<string | undefined> {
  const already = parsed ?? request.body;
  if (typeof already === 'string' || Buffer.isBuffer(already)) {
    if (Buffer.byteLength(already) > maxBytes) throw tooLarge();
    return already.toString();
  }
  if (already !== undefined && already !== null) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}
