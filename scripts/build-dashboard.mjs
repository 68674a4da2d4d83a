// Builds the dashboard into dist/dashboard/: the page's own files from dashboard/, and the
// libraries it uses vendored from their npm packages (no CDN, no bundler; docs/DASHBOARD.md).
// Run by `npm run build` after tsc. Fails, naming the file, when a package is missing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'dashboard');
const modules = path.join(root, 'node_modules');

/** Vendored files: [package, file in it, name served, rewrite]. */
const VENDORED = [
  ['preact', 'dist/preact.mjs', 'preact.mjs'],
  // Hooks import Preact by its bare name, which a browser cannot resolve without an import
  // map (an inline script, which the CSP refuses): it is pointed at the vendored file.
  [
    'preact',
    'hooks/dist/hooks.mjs',
    'hooks.mjs',
    (text) => replaceOnce(text, 'from"preact"', 'from"./preact.mjs"'),
  ],
  ['htm', 'dist/htm.mjs', 'htm.mjs'],
  ['uplot', 'dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
  ['uplot', 'dist/uPlot.min.css', 'uPlot.min.css'],
];

function replaceOnce(text, from, to) {
  if (!text.includes(from)) throw new Error(`build-dashboard: ${JSON.stringify(from)} not found`);
  return text.replaceAll(from, to);
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`build-dashboard: cannot read ${file} (${error.code}); run npm ci`);
  }
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'vendor'), { recursive: true });
for (const name of fs.readdirSync(path.join(root, 'dashboard'))) {
  if (/\.(html|js|css|svg)$/.test(name)) {
    fs.copyFileSync(path.join(root, 'dashboard', name), path.join(out, name));
  }
}
// Every module preloaded by the page at once, rather than each level of imports found only
// once the level above has loaded (three round trips before the first screen, else).
const preloaded = [
  ...VENDORED.map(([, , served]) => `vendor/${served}`).filter((name) => name.endsWith('.mjs')),
  ...fs
    .readdirSync(path.join(root, 'dashboard'))
    .filter((n) => n.endsWith('.js') && n !== 'app.js'),
];
const page = path.join(out, 'index.html');
fs.writeFileSync(
  page,
  replaceOnce(
    fs.readFileSync(page, 'utf8'),
    '    <!-- modulepreload: every module, written here by scripts/build-dashboard.mjs -->\n',
    preloaded.map((m) => `    <link rel="modulepreload" href="/assets/${m}" />\n`).join(''),
  ),
);
const licences = new Set();
for (const [pkg, file, served, rewrite] of VENDORED) {
  const text = read(path.join(modules, pkg, file));
  fs.writeFileSync(path.join(out, 'vendor', served), rewrite === undefined ? text : rewrite(text));
  licences.add(pkg);
}
const notices = [...licences].map((pkg) => {
  const { version } = JSON.parse(read(path.join(modules, pkg, 'package.json')));
  return `${pkg} ${version}\n\n${read(path.join(modules, pkg, 'LICENSE')).trim()}\n`;
});
fs.writeFileSync(path.join(out, 'vendor', 'LICENSES.txt'), notices.join('\n\n'));
