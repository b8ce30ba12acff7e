import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

test('the README shows the user test that the suite runs, word for word', () => {
  const example = readFileSync(join(__dirname, 'user-test.test.ts'), 'utf8');
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});

test('the README lists every error code, and no code that does not exist', () => {
  const source = readFileSync(join(root, 'lib', 'errors.ts'), 'utf8');
  const defined = new Set([...source.matchAll(/readonly code = '(ERR_[A-Z_]+)'/g)].map((m) => m[1]));
  const listed = new Set([...readme.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]));
  expect([...listed].sort()).toEqual([...defined].sort());
});

test('the README lists every guard option', () => {
  const source = ['options/index.ts', 'liveness/introspection.ts', 'liveness/okta-sessions.ts', 'revocation/denylist.ts', 'sessions/store.ts'].map((f) => readFileSync(join(root, 'lib', f), 'utf8')).join('\n');
  const block = (name: string) => source.slice(source.indexOf(`export interface ${name}`), source.indexOf('\n}\n', source.indexOf(`export interface ${name}`)));
  const names = (text: string) => [...text.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]);
  const options = [
    ...names(block('GuardOptions')),
    ...names(block('CacheOptions')).map((n) => `cache.${n}`),
    ...names(block('KeySetOptions')).map((n) => `keySet.${n}`),
    ...names(block('IntrospectionOptions')).map((n) => `introspection.${n}`),
    ...names(block('SessionOptions')).map((n) => `sessions.${n}`),
    ...names(block('RevocationOptions')).map((n) => `revocation.${n}`),
    ...names(block('BackendSessionOptions')).map((n) => `backendSessions.${n}`),
  ];
  expect(options.length).toBeGreaterThan(40);
  for (const option of options) expect(readme).toMatch(new RegExp(`^\\| \`${option.replace('.', '\\.')}\` \\|`, 'm'));
});
