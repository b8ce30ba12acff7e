import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '..', '..');

/** Every TypeScript source of the package, relative to the root, with the relative modules it imports (types included). */
function sources(): Map<string, string[]> {
  const files = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir))) {
      const path = join(dir, name);
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) files.set(path, []);
    }
  };
  walk('lib');
  walk('adapters');
  for (const file of files.keys()) {
    const text = readFileSync(join(root, file), 'utf8');
    const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.{1,2}\/[^']+)'/g), ...text.matchAll(/require\('(\.{1,2}\/[^']+)'\)/g)].map((m) => m[1]);
    files.set(
      file,
      specs.map((spec) => {
        const target = relative(root, resolve(root, dirname(file), spec));
        if (files.has(`${target}.ts`)) return `${target}.ts`;
        if (files.has(join(target, 'index.ts'))) return join(target, 'index.ts');
        throw new Error(`${file} imports ${spec}, which is not a source file`);
      }),
    );
  }
  return files;
}

/** The layers, lowest first: a module may import its own layer and those below it, never one above. */
const LAYERS: Array<[string, RegExp]> = [
  ['base', /^lib\/(errors|events)\.ts$|^lib\/util\//],
  ['jose', /^lib\/jose\//],
  ['issuer', /^lib\/issuer\//],
  ['features', /^lib\/(liveness|revocation|sessions|logout)\//],
  ['verify', /^lib\/verify\//],
  ['options', /^lib\/options\//],
  ['guard', /^lib\/guard\//],
  ['routes', /^lib\/routes\//],
  ['entries', /^lib\/(index|redis|otel)\.ts$|^lib\/(doctor|testing|redis)\//],
  ['adapters', /^adapters\//],
];

function layerOf(file: string): number {
  const at = LAYERS.findIndex(([, pattern]) => pattern.test(file));
  if (at < 0) throw new Error(`${file} is in no layer: add it to LAYERS and to the README's architecture section`);
  return at;
}

test('lib/ and adapters/ have no import cycle, type-only imports included', () => {
  const graph = sources();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file)!) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  expect(cycles).toEqual([]);
  // The walk must have seen the real graph, not an empty one.
  expect(graph.size).toBeGreaterThan(50);
});

test('imports point one way: util/errors/events <- jose <- issuer <- features <- verify <- options <- guard <- routes <- entries <- adapters', () => {
  const upward: string[] = [];
  for (const [file, imports] of sources()) {
    for (const target of imports) {
      if (layerOf(target) > layerOf(file)) upward.push(`${file} (${LAYERS[layerOf(file)][0]}) imports ${target} (${LAYERS[layerOf(target)][0]})`);
    }
  }
  expect(upward).toEqual([]);
});

test('the adapters import only lib/index and adapters/shared', () => {
  const graph = sources();
  const reached = [...graph].filter(([file]) => file.startsWith('adapters/')).flatMap(([file, imports]) => imports.map((target) => `${file} -> ${target}`));
  expect(reached.length).toBeGreaterThan(0);
  for (const edge of reached) expect(edge).toMatch(/-> (lib\/index\.ts|adapters\/shared\.ts)$/);
});

/** Files allowed past ~300 lines, and why (the README's architecture section repeats it). */
const LONG_FILES: Record<string, string> = {
  'lib/errors.ts': 'the catalogue of error classes, one per code, with the union and the answer builder: split, it would scatter the list the README mirrors',
};

test('no file in lib/ is over 300 lines unless it is listed with a reason', () => {
  const long = [...sources().keys()]
    .filter((file) => file.startsWith('lib/'))
    .map((file) => [file, readFileSync(join(root, file), 'utf8').split('\n').length] as const)
    .filter(([file, lines]) => lines > 300 && LONG_FILES[file] === undefined);
  expect(long).toEqual([]);
});
