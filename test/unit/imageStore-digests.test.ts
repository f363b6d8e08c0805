// The image store hashes each file version once and keeps both digests of the same bytes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, defaultImageStoreOptions, digests } from '../../src/core/catalog/imageStore';
import { ImageWork } from '../../src/core/work/imageWork';
import { dyingWorker, hangingWorker, workerDyingOnce, workerWritingDuringRead } from '../support/imageWorkers';
import { levelLogger } from '../../src/core/log';
import { esp32App, esp8266ArduinoApp, pattern } from '../support/images';

const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

describe('image store digests', () => {
  it('computes MD5 and SHA-256 of the same bytes in one pass, across slice boundaries', () => {
    for (const length of [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17]) {
      const data = pattern(length, length + 1);
      assert.deepEqual(digests(data), { md5: hex('md5', data), sha256: hex('sha256', data) }, `length ${length}`);
    }
  });

  it('gives every version its MD5 and SHA-256, hashing it once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    try {
      const files = {
        'esp8266.bin': esp8266ArduinoApp({ payloadSize: 200_000, seed: 1 }),
        'esp32.bin': esp32App({ chip: 'esp32', version: '1.0.0', projectName: 'p', payloadSize: 100_000, seed: 2 }),
        'notes.bin': Buffer.from('not an image'),
      };
      const store = new ImageStore();
      let hashes = 0;
      store.onDidAnalyze((analysis) => (hashes += analysis.work === 'hash' ? 1 : 0));
      for (const [name, data] of Object.entries(files)) {
        writeFileSync(join(dir, name), data);
        const first = await store.load(join(dir, name), name, true);
        assert.equal(first.version.md5, hex('md5', data), name);
        assert.equal(first.version.sha256, hex('sha256', data), name);
        const again = await store.load(join(dir, name), name, false);
        assert.equal(again.version.sha256, first.version.sha256);
      }
      assert.equal(hashes, Object.keys(files).length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('indexes a version in the worker without holding its bytes, and serves exactly the file later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    const work = new ImageWork({ inThreadBytes: 0 });
    try {
      const store = new ImageStore({ ...defaultImageStoreOptions, work });
      let hashes = 0;
      store.onDidAnalyze((analysis) => (hashes += analysis.work === 'hash' ? 1 : 0));
      const data = esp8266ArduinoApp({ payloadSize: 300_000, seed: 13 });
      writeFileSync(join(dir, 'sketch.bin'), data);
      const indexed = await store.load(join(dir, 'sketch.bin'), 'sketch.bin', false);
      assert.equal(indexed.version.md5, hex('md5', data));
      assert.equal(indexed.bytes, undefined);
      assert.equal(work.figures.md5Bytes, data.length, 'the worker read and hashed the file');
      const served = await store.load(join(dir, 'sketch.bin'), 'sketch.bin', true);
      assert.ok(served.bytes?.equals(data), 'the bytes to serve are the file');
      assert.equal(served.version, indexed.version);
      assert.equal(hashes, 1, 'serving a known version hashes nothing again');
      assert.equal(store.fileReads, 2, 'indexing read no bytes to keep: serving read them');
    } finally {
      await work.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a version again when it changed while the worker read it, and serves the file as it is now', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    const file = join(dir, 'sketch.bin');
    const work = new ImageWork({ inThreadBytes: 0, workerPath: workerWritingDuringRead(dir, file) });
    try {
      writeFileSync(file, esp8266ArduinoApp({ payloadSize: 200_000, seed: 14 }));
      const store = new ImageStore({ ...defaultImageStoreOptions, work });
      const loaded = await store.load(file, 'sketch.bin', true);
      const now = readFileSync(file);
      assert.equal(loaded.version.md5, hex('md5', now), 'the digest of the file as it is after the write');
      assert.ok(loaded.bytes?.equals(now));
      assert.equal(store.fileReads, 2, 'read again after the write');
    } finally {
      await work.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // A timeout of their own: without the fix these wait for a worker that never answers.
  it('gives up a worker stuck in a read and serves the file from this thread', { timeout: 15_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    const lines: string[] = [];
    const work = new ImageWork({
      inThreadBytes: 0,
      workerPath: hangingWorker(dir, 4),
      answerTimeoutMs: 300,
      logger: levelLogger('debug', (_level, message) => lines.push(message)),
    });
    try {
      const data = esp8266ArduinoApp({ payloadSize: 200_000, seed: 15 });
      writeFileSync(join(dir, 'sketch.bin'), data);
      const store = new ImageStore({ ...defaultImageStoreOptions, work });
      const started = Date.now();
      const loaded = await store.load(join(dir, 'sketch.bin'), 'sketch.bin', true);
      assert.equal(loaded.version.md5, hex('md5', data));
      assert.ok(loaded.bytes?.equals(data), 'the bytes to serve are the file');
      assert.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms, not after the 4 s read`);
      assert.ok(
        lines.some((l) => /did not answer for/.test(l)),
        lines.join('\n'),
      );
    } finally {
      await work.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    'stops without waiting for a worker stuck in a read; the version under way finishes here',
    { timeout: 15_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
      const work = new ImageWork({ inThreadBytes: 0, workerPath: hangingWorker(dir, 4), answerTimeoutMs: 60_000 });
      try {
        const data = esp8266ArduinoApp({ payloadSize: 200_000, seed: 16 });
        writeFileSync(join(dir, 'sketch.bin'), data);
        const store = new ImageStore({ ...defaultImageStoreOptions, work });
        const loading = store.load(join(dir, 'sketch.bin'), 'sketch.bin', true);
        await new Promise((resolve) => setTimeout(resolve, 300)); // the worker is in its read now
        const stopping = Date.now();
        await work.dispose();
        assert.ok(Date.now() - stopping < 3000, `stopped in ${Date.now() - stopping} ms, not after the 4 s read`);
        const loaded = await loading;
        assert.equal(loaded.version.md5, hex('md5', data));
        assert.ok(loaded.bytes?.equals(data));
      } finally {
        await work.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('finishes a version on this thread when every worker dies, and serves exactly the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    const work = new ImageWork({ inThreadBytes: 0, workerPath: dyingWorker(dir) });
    try {
      const store = new ImageStore({ ...defaultImageStoreOptions, work });
      for (const seed of [10, 11, 12]) {
        const data = esp8266ArduinoApp({ payloadSize: 200_000, seed });
        writeFileSync(join(dir, `sketch-${seed}.bin`), data);
        const loaded = await store.load(join(dir, `sketch-${seed}.bin`), `sketch-${seed}.bin`, true);
        assert.equal(loaded.version.md5, hex('md5', data), `seed ${seed}`);
        assert.equal(loaded.version.info.kind, 'app');
        assert.ok(loaded.bytes?.equals(data), 'the bytes to serve are the file');
      }
      assert.ok(work.figures.inThread >= 3, 'each version was finished on this thread');
    } finally {
      await work.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a version here when the worker dies reading it, and serves exactly the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-digest-'));
    // The worker dies at the first job (reading the file); the one started next examines what this thread read.
    const work = new ImageWork({ inThreadBytes: 0, workerPath: workerDyingOnce(dir) });
    try {
      const data = esp8266ArduinoApp({ payloadSize: 300_000, seed: 9 });
      writeFileSync(join(dir, 'sketch.bin'), data);
      const store = new ImageStore({ ...defaultImageStoreOptions, work });
      const loaded = await store.load(join(dir, 'sketch.bin'), 'sketch.bin', true);
      assert.equal(loaded.version.md5, hex('md5', data));
      assert.ok(loaded.bytes?.equals(data), 'the bytes to serve are the file');
      assert.equal(work.figures.inWorker, 2, 'the first worker died with the job; the second answered it');
    } finally {
      await work.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
