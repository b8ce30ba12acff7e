#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { diagnose, formatReport, type DoctorOptions } from '../lib/doctor';
import type { Algorithm } from '../lib/jose/algorithms';

const USAGE = `Usage: tokengate doctor <token | -> --issuer <url> --audience <aud> [options]

Explains why tokengate accepts or rejects an access token: decodes it (never printing the
signature), fetches the issuer's discovery document and keys, and runs every check the guard runs.

Options:
  --issuer <url>             expected iss, exactly (required); repeat or comma-separate for
                             several: the token's iss picks one
  --audience <aud>           accepted aud; repeat or comma-separate for several (required)
  --scopes <a,b>             scopes the route requires
  --session-claim <name>     claim that must carry the Okta session id (strict sessions)
  --jwks-uri <url>           JWKS URL, instead of discovery
  --algorithms <RS256,...>   allowed algorithms (default RS256)
  --clock-tolerance <s>      leeway for exp, nbf and iat, in seconds (default 30)
  --json                     print a machine-readable report
  -h, --help                 show this help

Give - as the token to read it from standard input (keeps it out of shell history).
Exit status: 0 every check passes, 1 a check fails, 2 bad arguments.
`;

/** Where the CLI writes and reads; the process's own streams by default. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
}

/**
 * The arguments with any that cannot be an option moved after `--`, so they are positionals: a
 * base64url token may start with `-` (or `--`), and must not be read as a cluster of short options
 * or as an unknown long one. An argument is an option when it is `-h` or has an option's shape
 * (`--name` or `--name=value`, lowercase letters and dashes); an option's value (`--issuer -x`)
 * stays where it is.
 */
function withDashTokens(argv: readonly string[]): string[] {
  const kept: string[] = [];
  const moved: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') return [...kept, '--', ...moved, ...argv.slice(i + 1)];
    const previous = argv[i - 1];
    const value = previous !== undefined && OPTION_SHAPE.test(previous) && !previous.includes('=') && !FLAGS.has(previous);
    const token = arg.length > 2 && arg[0] === '-' && !OPTION_SHAPE.test(arg);
    (!value && token ? moved : kept).push(arg);
  }
  return moved.length === 0 ? kept : [...kept, '--', ...moved];
}

/** What a long option looks like on the command line; anything else starting with `-` is a token. */
const OPTION_SHAPE = /^--[a-z][a-z-]*(=.*)?$/s;
/** The options that take no value, so the argument after them is never theirs. */
const FLAGS = new Set(['--json', '--help']);

/** Runs `tokengate <argv...>` and resolves to the exit status. Never throws. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let options: DoctorOptions;
  let token: string;
  let json: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: withDashTokens(argv),
      allowPositionals: true,
      options: {
        issuer: { type: 'string', multiple: true },
        audience: { type: 'string', multiple: true },
        scopes: { type: 'string' },
        'session-claim': { type: 'string' },
        'jwks-uri': { type: 'string' },
        algorithms: { type: 'string' },
        'clock-tolerance': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout(USAGE);
      return 0;
    }
    const [command, given, ...extra] = positionals;
    if (command !== 'doctor') throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
    if (given === undefined || given === '') throw new UsageError('no token given');
    if (extra.length > 0) throw new UsageError('give one token');
    if (values.issuer === undefined) throw new UsageError('--issuer is required');
    if (values.audience === undefined) throw new UsageError('--audience is required');
    const tolerance = values['clock-tolerance'];
    options = {
      issuer: values.issuer.flatMap(list).length === 1 ? values.issuer.flatMap(list)[0] : values.issuer.flatMap(list),
      audience: values.audience.flatMap(list),
      scopes: values.scopes === undefined ? undefined : list(values.scopes),
      sessionClaim: values['session-claim'],
      jwksUri: values['jwks-uri'],
      algorithms: values.algorithms === undefined ? undefined : (list(values.algorithms) as Algorithm[]),
      clockTolerance: tolerance === undefined ? undefined : tolerance.trim() === '' ? NaN : Number(tolerance),
    };
    token = given === '-' ? (await io.stdin()).trim() : given;
    json = values.json === true;
  } catch (error) {
    return usage(io, error);
  }
  try {
    const report = await diagnose(token, options);
    io.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof TypeError) return usage(io, error);
    io.stderr(`tokengate doctor: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}

class UsageError extends Error {}

function usage(io: CliIo, error: unknown): number {
  const message = (error as Error)?.message ?? String(error);
  io.stderr(`tokengate: ${message.replace(/^tokengate: /, '')}\n\n${USAGE}`);
  return 2;
}

function list(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
