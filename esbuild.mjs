// Bundles the VS Code extension and the command-line server into dist/ (one file each, no runtime node_modules), and
// the image worker thread they share (dist/imageWorker.js).
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // jsonc-parser's UMD build (its "main") requires its own parts dynamically, which a bundle cannot follow: take
  // the ES module build, as VS Code's own bundles do.
  mainFields: ['module', 'main'],
};

const pkg = JSON.parse(await (await import('node:fs/promises')).readFile('package.json', 'utf8'));
common.define = { PACKAGE_VERSION: JSON.stringify(pkg.version) };

const builds = [
  { ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The image worker thread of both (src/core/work/imageWork.ts starts it from beside the bundle).
  { ...common, entryPoints: ['src/core/work/imageWorker.ts'], outfile: 'dist/imageWorker.js' },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
