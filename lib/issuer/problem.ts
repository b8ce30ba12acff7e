/** A problem that is the issuer's (discovery, JWKS, an endpoint's answer), not the caller's. The services turn it into their 503. */
export class UpstreamProblem extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamProblem';
  }
}

/** Parses a JSON object or throws {@link UpstreamProblem} naming the URL. */
export function parseJson(body: string, url: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new UpstreamProblem(`${url} did not answer with JSON`, { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UpstreamProblem(`${url} did not answer with a JSON object`);
  }
  return value as Record<string, unknown>;
}
