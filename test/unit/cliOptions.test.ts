import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli } from '../../src/cli/options';
import { parseExport } from '../../src/cli/exportCommand';

describe('command-line flags (updateserver.py drop-in)', () => {
  it('defaults like updateserver.py, but binds all interfaces', () => {
    const command = parseCli([], '/srv/ota');
    assert.equal(command.kind, 'run');
    if (command.kind !== 'run') return;
    assert.deepEqual(command.options, {
      port: 8000,
      bind: '0.0.0.0',
      catalog: '/srv/ota',
      logLevel: 'info',
      allow: [],
      watch: [],
      keep: 3,
      answerNotModified: true,
    });
  });

  it('takes --key KEY or --key auto, and refuses a key devices cannot send or an export that would bypass it', () => {
    const key = parseCli(['--key', 'kitchen-door-42'], '/x');
    assert.equal(key.kind === 'run' && key.options.key, 'kitchen-door-42');
    const auto = parseCli(['--key', 'auto'], '/x');
    assert.equal(auto.kind === 'run' && auto.options.key, 'auto');
    const spaced = parseCli(['--key', 'kitchen door'], '/x');
    assert.equal(spaced.kind, 'error');
    assert.match(spaced.kind === 'error' ? spaced.message : '', /^argument --key: .*letters, digits/);
    const exported = parseCli(['--key', 'auto', '--export-nginx', '/tmp/x'], '/x');
    assert.match(exported.kind === 'error' ? exported.message : '', /not supported with --export-nginx/);
  });

  it('takes the python flags, long and short', () => {
    const long = parseCli(['--port', '8080', '--bind', '172.16.1.10', '--catalog', 'bin', '--log', 'debug'], '/x');
    const short = parseCli(['-p', '8080', '-b', '172.16.1.10', '-d', 'bin', '-l', 'DEBUG'], '/x');
    const inline = parseCli(['--port=8080', '--bind=172.16.1.10', '--catalog=bin', '--log=debug'], '/x');
    for (const command of [long, short, inline]) {
      assert.equal(command.kind, 'run');
      if (command.kind !== 'run') continue;
      assert.equal(command.options.port, 8080);
      assert.equal(command.options.bind, '172.16.1.10');
      assert.equal(command.options.catalog, 'bin');
      assert.equal(command.options.logLevel, 'debug');
    }
  });

  it('maps every python logging level name', () => {
    const level = (name: string) => {
      const command = parseCli(['-l', name], '/');
      return command.kind === 'run' ? command.options.logLevel : command.kind;
    };
    assert.equal(level('WARNING'), 'warn');
    assert.equal(level('warn'), 'warn');
    assert.equal(level('ERROR'), 'error');
    assert.equal(level('CRITICAL'), 'error');
    assert.equal(level('INFO'), 'info');
    assert.equal(level('loud'), 'error');
  });

  it('takes repeatable --allow and --watch, and --no-304', () => {
    const command = parseCli(
      ['--allow', '100.64.0.0/10', '--allow', '203.0.113.7', '--watch', 'a', '--watch', 'b', '--keep', '5', '--no-304'],
      '/',
    );
    assert.equal(command.kind, 'run');
    if (command.kind !== 'run') return;
    assert.deepEqual(command.options.allow, ['100.64.0.0/10', '203.0.113.7']);
    assert.deepEqual(command.options.watch, ['a', 'b']);
    assert.equal(command.options.keep, 5);
    assert.equal(command.options.answerNotModified, false);
  });

  it('explains bad input instead of starting', () => {
    for (const argv of [
      ['-p', 'http'],
      ['-p', '70000'],
      ['--allow', 'lan'],
      ['--bogus'],
      ['--keep', '-1'],
      ['-l', 'loud'],
    ]) {
      const command = parseCli(argv, '/');
      assert.equal(command.kind, 'error', argv.join(' '));
      if (command.kind === 'error') assert.ok(command.message.length > 5);
    }
    assert.equal(parseCli(['-h'], '/').kind, 'help');
    assert.equal(parseCli(['--version'], '/').kind, 'version');
  });

  it('takes --export-nginx for the server, and the export command its own flags', () => {
    const run = parseCli(['--export-nginx', '/srv/nginx-ota'], '/x');
    assert.equal(run.kind === 'run' && run.options.exportNginx, '/srv/nginx-ota');
    const command = parseExport(['--nginx', 'out', '-d', 'bin', '--port', '8080', '--server-name', 'ota.lan'], '/x');
    assert.deepEqual(command, {
      kind: 'export',
      options: {
        nginx: '/x/out',
        catalog: '/x/bin',
        port: 8080,
        serverName: 'ota.lan',
        logLevel: 'info',
        answerNotModified: true,
      },
    });
    assert.equal(parseExport([], '/x').kind, 'error');
    assert.match(JSON.stringify(parseExport(['--nginx', 'o', '--port', '0'], '/x')), /invalid port/);
    assert.match(JSON.stringify(parseExport(['--nginx', 'o', '--server-name', 'a;b'], '/x')), /not a server name/);
  });
});
