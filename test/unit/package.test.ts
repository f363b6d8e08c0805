// The npm package as a user installs it: `npm pack` and the .vsix hold only what runs (and the icon and the README's
// pictures), and the packed CLI, installed into an empty prefix with no network and no dependencies, runs.

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
      'media/icon.png',
      'media/screenshot-views.png',
      'package.json',
    ]);
  });

  it('names a 128×128 PNG icon and a gallery banner, and the .vsix packs the icon', () => {
    assert.equal(manifest.icon, 'media/icon.png');
    const png = readFileSync(join(root, manifest.icon));
    assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
    assert.equal(png.toString('latin1', 12, 16), 'IHDR');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
    assert.match(manifest.galleryBanner?.color ?? '', /^#[0-9a-f]{6}$/i);
    assert.ok(['dark', 'light'].includes(manifest.galleryBanner?.theme));
    const vsce = join(root, 'node_modules', '.bin', 'vsce');
    const packed = execFileSync(vsce, ['ls', '--no-dependencies'], { cwd: root, encoding: 'utf8' }).split('\n');
    assert.ok(packed.includes(manifest.icon), packed.join(', '));
  });

  it('the .vsix (by .vscodeignore) holds the extension bundles, the pictures and the documents, nothing else', () => {
    const vsce = join(root, 'node_modules', '.bin', 'vsce');
    const packed = execFileSync(vsce, ['ls', '--no-dependencies'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .sort();
    assert.deepEqual(packed, [
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'dist/extension.js',
      'dist/imageWorker.js',
      'media/autoconnect.svg',
      'media/icon.png',
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
