// Under systemd the log goes to the journal: priority prefixes instead of our timestamps, one record per line. A
// stderr redirected elsewhere keeps python's format.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stderrLogger } from '../../src/cli/logLines';
import { esp8266ArduinoApp } from '../support/images';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

describe('log lines for the journal', () => {
  it('prefixes each record with its syslog priority and keeps it on one line', () => {
    const lines: string[] = [];
    const logger = stderrLogger('debug', (line) => lines.push(line), 'journal');
    logger.error('boom');
    logger.warn('careful\nsecond line');
    logger.info('served');
    logger.debug('detail');
    assert.deepEqual(lines, ['<3>boom\n', '<4>careful | second line\n', '<6>served\n', '<7>detail\n']);
  });

  it('writes journal lines when stderr is the stream systemd named, python lines otherwise', () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-journal-'));
    try {
      mkdirSync(join(base, 'catalog'));
      writeFileSync(join(base, 'catalog', 'a.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 3 }));
      const runWith = (journal: (fd: number) => string | undefined, exportDir: string) => {
        const path = join(base, `${exportDir}.log`);
        const fd = openSync(path, 'w');
        try {
          const env: NodeJS.ProcessEnv = { ...process.env, JOURNAL_STREAM: journal(fd) };
          const args = [cli, 'export', '--nginx', join(base, exportDir), '-d', join(base, 'catalog')];
          const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', fd] });
          assert.equal(result.status, 0);
        } finally {
          closeSync(fd);
        }
        return readFileSync(path, 'utf8');
      };
      const journal = runWith((fd) => `${fstatSync(fd).dev}:${fstatSync(fd).ino}`, 'one');
      assert.match(journal, /^<6>nginx export .*1 image\(s\)/m);
      assert.match(journal, /^<4>nginx export: .* is not searchable by other users/m, 'the 0700 temp folder');
      const elsewhere = runWith(() => '1:2', 'two');
      assert.match(elsewhere, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO nginx export /m);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
