// The npm package as a user installs it: `npm pack` holds only what runs (and the README's pictures), and the packed CLI, installed into an empty
// prefix with no network and no dependencies, runs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const npm = (args: string[], cwd = root) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });

describe('npm package', () => {
  it('is publishable and needs nothing installed beside it', () => {
    assert.notEqual(manifest.private, true);
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), [], 'the CLI and the extension are bundled');
    assert.equal(manifest.bin['autoconnect-update-server'], 'dist/cli.js');
  });

  it('packs the bundles, the icon and the documents, nothing else', () => {
    const [packed] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts']));
    const files = (packed.files as { path: string }[]).map((f) => f.path).sort();
    assert.deepEqual(files, [
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'dist/cli.js',
      'dist/extension.js',
      'dist/imageWorker.js',
      'media/autoconnect.svg',
      'media/screenshot-views.png',
      'package.json',
    ]);
  });

  it('installs from its tarball into an empty prefix, offline, and runs', () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-pack-'));
    try {
      const [packed] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', base]));
      const prefix = join(base, 'prefix');
      npm(
        [
          'install',
          '--global',
          '--prefix',
          prefix,
          '--offline',
          '--no-audit',
          '--no-fund',
          join(base, packed.filename),
        ],
        base,
      );
      const bin = join(prefix, 'bin', 'autoconnect-update-server');
      assert.equal(
        execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(),
        `autoconnect-update-server ${manifest.version}`,
      );
      assert.match(execFileSync(bin, ['export', '--help'], { encoding: 'utf8' }), /--nginx DIR/);
      assert.deepEqual(
        execFileSync('ls', [join(prefix, 'lib', 'node_modules', manifest.name)], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .sort(),
        ['CHANGELOG.md', 'LICENSE', 'README.md', 'dist', 'media', 'package.json'],
        'no node_modules of its own',
      );
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
