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

/** The anchors GitHub gives a Markdown file's headings (outside code blocks), duplicates numbered. */
function anchors(markdown: string): string[] {
  const seen = new Map<string, number>();
  const headings = markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm);
  return [...headings].map(([, text]) => {
    const slug = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    return count === 0 ? slug : `${slug}-${count}`;
  });
}

test('every link to a heading of README.md or bench/README.md names one that exists', () => {
  const files: Record<string, string> = { 'README.md': readme, 'bench/README.md': readFileSync(join(root, 'bench', 'README.md'), 'utf8') };
  const targets = Object.fromEntries(Object.entries(files).map(([file, text]) => [file, new Set(anchors(text))]));
  const broken: string[] = [];
  let links = 0;
  for (const [file, text] of Object.entries(files)) {
    for (const [, path, anchor] of text.matchAll(/\]\(([^)#\s]*)#([^)\s]+)\)/g)) {
      const target = path === '' ? file : join(file, '..', path);
      links++;
      if (!targets[target]?.has(anchor)) broken.push(`${file}: ${path}#${anchor}`);
    }
  }
  expect(links).toBeGreaterThan(20);
  expect(broken).toEqual([]);
});

test('the contents list every section of the README that follows them, in order', () => {
  const sections = [...readme.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^## (.+)$/gm)].map(([, title]) => title);
  const contents = readme.slice(readme.indexOf('## Contents\n'), readme.indexOf('\n## ', readme.indexOf('## Contents\n') + 1));
  const listed = [...contents.matchAll(/^- \[(.+)\]\(#[^)]+\)$/gm)].map(([, title]) => title);
  expect(listed).toEqual(sections.slice(sections.indexOf('Contents') + 1));
});
