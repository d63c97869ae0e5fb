// Builds the web app into dist/: app.js (one minified ES module), app.css,
// index.html, favicon.svg and THIRD_PARTY_LICENSES.txt (the notices of every
// package that ended up in app.js, collected from node_modules).
//
// The output is deterministic (no timestamps, no absolute paths, sorted
// notices), so CI rebuilds it and fails when the committed dist/ differs.
import { build } from 'esbuild';
import { mkdir, readFile, readdir, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(web, 'dist');

// The client library's sources import yjs, y-websocket and openapi-fetch too.
// Every bare import is resolved from web/ so the bundle holds one copy of each
// (two copies of yjs would break its type checks and warn at load).
const onePackageCopy = {
  name: 'one-package-copy',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'from-web') return undefined;
      const result = await b.resolve(args.path, { kind: args.kind, resolveDir: web, pluginData: 'from-web' });
      return result.errors.length ? { errors: result.errors } : { path: result.path, sideEffects: result.sideEffects };
    });
  },
};

const result = await build({
  entryPoints: [join(web, 'src/main.ts')],
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  platform: 'browser',
  minify: true,
  legalComments: 'none',
  banner: { js: '/* canvas-server web app. Third-party notices: /assets/THIRD_PARTY_LICENSES.txt */' },
  outfile: join(dist, 'app.js'),
  // Metafile paths are relative to this, whatever directory the build runs from.
  absWorkingDir: web,
  metafile: true,
  plugins: [onePackageCopy],
  logLevel: 'warning',
});

await build({
  entryPoints: [join(web, 'src/app.css')],
  bundle: true,
  minify: true,
  outfile: join(dist, 'app.css'),
  logLevel: 'warning',
});

await mkdir(dist, { recursive: true });
await copyFile(join(web, 'src/index.html'), join(dist, 'index.html'));
await copyFile(join(web, 'src/favicon.svg'), join(dist, 'favicon.svg'));

// The package directory of every bundled file under node_modules.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const parts = relative(web, join(web, input)).split(sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) continue;
  const name = parts[at + 1]?.startsWith('@') ? parts.slice(at + 1, at + 3) : parts.slice(at + 1, at + 2);
  packages.add(join(web, ...parts.slice(0, at + 1), ...name));
}

const notices = [];
for (const dir of packages) {
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const files = (await readdir(dir)).filter((f) => /^(licen[cs]e|notice|copying)/i.test(f)).sort();
  if (files.length === 0) throw new Error(`${pkg.name} is bundled but ships no license file`);
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  notices.push({ name: pkg.name, text: `${pkg.name} ${pkg.version} (${pkg.license})\n${pkg.homepage ?? ''}\n\n${texts.map((t) => t.trim()).join('\n\n')}\n` });
}
notices.sort((a, b) => (a.name < b.name ? -1 : 1));
const rule = '\n' + '-'.repeat(78) + '\n\n';
await writeFile(
  join(dist, 'THIRD_PARTY_LICENSES.txt'),
  `The canvas-server web app (app.js) includes the following packages.\n\n${notices.map((n) => n.text).join(rule)}`,
);
console.log(`built dist/ with ${notices.length} third-party packages: ${notices.map((n) => n.name).join(', ')}`);
