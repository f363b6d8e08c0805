// Hashing and analysis in the worker thread give exactly what the in-thread code gives, on real images of every
// kind; a missing or crashing worker changes nothing but where the work ran.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { runningImageMd5s } from '../../src/core/firmware/runningMd5';
import { ImageWork, WorkerLostError } from '../../src/core/work/imageWork';
import { versionKey } from '../../src/core/catalog/imageStore';
import { dyingWorker, inSharedMemory, workerDyingOnce } from '../support/imageWorkers';
import { levelLogger } from '../../src/core/log';
import {
  esp32App,
  esp32Bootloader,
  esp8266ArduinoApp,
  esp8266PlainApp,
  flipByte,
  gzipOf,
  littlefsImage,
  mergedImage,
  partitionTable,
  signedOf,
  truncate,
} from '../support/images';

const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

const app8266 = esp8266ArduinoApp({ payloadSize: 1 << 20, seed: 3 });
const samples: Record<string, Buffer> = {
  'sketch.bin': app8266,
  'sketch.bin.gz': gzipOf(esp8266ArduinoApp({ payloadSize: 400_000, seed: 4 })),
  'signed.bin': signedOf(esp8266ArduinoApp({ payloadSize: 200_000, seed: 5 })),
  'plain.bin': esp8266PlainApp({ payloadSize: 100_000, seed: 6 }),
  'esp32.bin': esp32App({ chip: 'esp32', version: '1.2.3', projectName: 'p', payloadSize: 600_000, seed: 7 }),
  'merged.bin': mergedImage('esp32s3', { payloadSize: 300_000, seed: 8 }),
  'bootloader.bin': esp32Bootloader(),
  'partitions.bin': partitionTable(),
  'littlefs.bin': littlefsImage(),
  'cut.bin': truncate(app8266, 500_000),
  'flipped.bin': flipByte(app8266, 300_000),
};

describe('image work in a worker thread', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-worker-'));
    dirs.push(dir);
    return dir;
  };

  /** Writes `data` as `name` in `dir` and runs `use` with a descriptor open on it, closed afterwards. */
  const withOpenFile = async (dir: string, name: string, data: Buffer, use: (fd: number) => Promise<void>) => {
    writeFileSync(join(dir, name), data);
    const handle = await open(join(dir, name), 'r');
    try {
      await use(handle.fd);
    } finally {
      await handle.close();
    }
  };

  it('gives the same digests, verdicts and running MD5s as the in-thread code, on real images', async () => {
    const work = new ImageWork({ inThreadBytes: 0 });
    try {
      for (const [name, data] of Object.entries(samples)) {
        const bytes = inSharedMemory(data);
        const examined = await work.examine(bytes, name);
        assert.equal(examined.md5, hex('md5', data), name);
        assert.equal(examined.sha256, hex('sha256', data), name);
        assert.deepEqual(examined.info, analyzeImage(data, name), name);
        assert.deepEqual(await work.runningMd5s(bytes, examined.info), runningImageMd5s(data, examined.info), name);
        assert.ok(bytes.equals(data), `${name}: the caller's bytes are untouched and still usable`);
      }
      assert.equal(work.figures.inThread, 0);
      assert.equal(work.figures.inWorker, 2 * Object.keys(samples).length, 'every job ran in the worker');
      // Buffers not in shared memory are copied to the worker: same answer.
      assert.equal((await work.examine(Buffer.from(app8266), 'copy.bin')).md5, hex('md5', app8266));
    } finally {
      await work.dispose();
    }
  });

  it('reads a file from its descriptor in the worker: the same answer, and the bytes only when asked for', async () => {
    const work = new ImageWork({ inThreadBytes: 0 });
    const dir = tempDir();
    try {
      for (const [name, data] of Object.entries(samples)) {
        await withOpenFile(dir, name, data, async (fd) => {
          const withBytes = await work.examineFile(fd, data.length, name, true);
          assert.ok(withBytes, name);
          assert.equal(withBytes.examined.md5, hex('md5', data), name);
          assert.equal(withBytes.examined.sha256, hex('sha256', data), name);
          assert.deepEqual(withBytes.examined.info, analyzeImage(data, name), name);
          assert.equal(withBytes.bytesRead, data.length, name);
          assert.ok(withBytes.bytes?.equals(data), `${name}: the bytes came back whole`);
          assert.equal(
            versionKey(withBytes.after),
            versionKey(fstatSync(fd)),
            `${name}: the file's version, stated after`,
          );
          const digestsOnly = await work.examineFile(fd, data.length, name, false);
          assert.equal(digestsOnly?.examined.md5, hex('md5', data), name);
          assert.equal(digestsOnly?.bytes, undefined, `${name}: no bytes came back`);
        });
      }
      assert.equal(work.figures.inThread, 0);
      assert.equal(work.figures.inWorker, 2 * Object.keys(samples).length);
    } finally {
      await work.dispose();
    }
  });

  it('says how much it read of a file shorter than asked, and leaves small files to the caller', async () => {
    const work = new ImageWork({ inThreadBytes: 1024 });
    const dir = tempDir();
    try {
      await withOpenFile(dir, 'sketch.bin', app8266, async (fd) => {
        const longer = await work.examineFile(fd, app8266.length + 100, 'sketch.bin', false);
        assert.equal(longer?.bytesRead, app8266.length, 'the file ended before the size asked for');
        assert.equal(await work.examineFile(fd, 1024, 'sketch.bin', true), undefined, 'small: read it here');
      });
    } finally {
      await work.dispose();
    }
  });

  it('says the worker was lost when it dies during a file job; the next worker answers the next job', async () => {
    const dir = tempDir();
    const work = new ImageWork({ inThreadBytes: 0, workerPath: workerDyingOnce(dir) });
    try {
      await withOpenFile(dir, 'sketch.bin', app8266, async (fd) => {
        await assert.rejects(work.examineFile(fd, app8266.length, 'sketch.bin', true), WorkerLostError);
        const next = await work.examineFile(fd, app8266.length, 'sketch.bin', true);
        assert.equal(next?.examined.md5, hex('md5', app8266));
        assert.ok(next?.bytes?.equals(app8266));
        assert.equal(work.figures.inWorker, 2, 'both jobs went to a worker');
      });
    } finally {
      await work.dispose();
    }
  });

  it('leaves file jobs to the caller when no worker can run', async () => {
    const work = new ImageWork({ inThreadBytes: 0, workerPath: join(tmpdir(), 'no-such-image-worker.js') });
    const dir = tempDir();
    try {
      await withOpenFile(dir, 'sketch.bin', app8266, async (fd) => {
        assert.equal(await work.examineFile(fd, app8266.length, 'sketch.bin', true), undefined);
      });
    } finally {
      await work.dispose();
    }
  });

  it('runs its thread below the event loop on Linux (nice 10), the process itself untouched', async () => {
    if (process.platform !== 'linux') {
      // Elsewhere a nice value is the whole process's (the extension host's): left alone.
      const priority = getPriority();
      const work = new ImageWork({ inThreadBytes: 0 });
      await work.examine(inSharedMemory(app8266), 'sketch.bin').finally(() => work.dispose());
      assert.equal(getPriority(), priority);
      return;
    }
    const niceOf = (task: string) => {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const before = new Set(readdirSync('/proc/self/task'));
    const work = new ImageWork({ inThreadBytes: 0 });
    try {
      await work.examine(inSharedMemory(app8266), 'sketch.bin');
      const started = readdirSync('/proc/self/task').filter((task) => !before.has(task));
      assert.ok(
        started.some((task) => niceOf(task) === 10),
        `a new thread at nice 10: ${started.map(niceOf).join(', ')}`,
      );
      assert.equal(niceOf(String(process.pid)), 0, 'the event loop thread keeps its priority');
    } finally {
      await work.dispose();
    }
  });

  it('answers many jobs at once, each with its own result', async () => {
    const work = new ImageWork({ inThreadBytes: 0 });
    try {
      const names = Object.keys(samples);
      const results = await Promise.all(names.map((name) => work.examine(inSharedMemory(samples[name]!), name)));
      results.forEach((r, i) => assert.equal(r.sha256, hex('sha256', samples[names[i]!]!), names[i]));
    } finally {
      await work.dispose();
    }
  });

  it('examines small files on the calling thread', async () => {
    const work = new ImageWork({ inThreadBytes: 64 * 1024 });
    try {
      const small = partitionTable();
      assert.equal((await work.examine(small, 'partitions.bin')).md5, hex('md5', small));
      assert.equal(work.figures.inWorker, 0);
      assert.equal(work.figures.inThread, 1);
    } finally {
      await work.dispose();
    }
  });

  it('works on the calling thread, and says so once, when the worker script is missing', async () => {
    const lines: string[] = [];
    const work = new ImageWork({
      inThreadBytes: 0,
      workerPath: join(tmpdir(), 'no-such-image-worker.js'),
      logger: levelLogger('debug', (_level, message) => lines.push(message)),
    });
    try {
      for (const name of ['sketch.bin', 'esp32.bin']) {
        const examined = await work.examine(inSharedMemory(samples[name]!), name);
        assert.equal(examined.md5, hex('md5', samples[name]!));
        assert.deepEqual(examined.info, analyzeImage(samples[name]!, name));
      }
      assert.equal(work.figures.inWorker, 0);
      assert.equal(work.figures.inThread, 2);
      assert.equal(lines.filter((l) => /image worker unavailable/.test(l)).length, 1, lines.join('\n'));
    } finally {
      await work.dispose();
    }
  });

  it('finishes the jobs of a worker that dies on the calling thread, and gives up after a few deaths', async () => {
    const dying = dyingWorker(tempDir());
    const lines: string[] = [];
    const work = new ImageWork({
      inThreadBytes: 0,
      workerPath: dying,
      logger: levelLogger('debug', (_level, message) => lines.push(message)),
    });
    try {
      for (let i = 0; i < 6; i++) {
        const examined = await work.examine(inSharedMemory(app8266), 'sketch.bin');
        assert.equal(examined.md5, hex('md5', app8266), `job ${i}`);
        assert.equal(examined.info.kind, 'app');
      }
      assert.ok(lines.some((l) => /image worker stopped/.test(l)));
      assert.ok(lines.some((l) => /image worker unavailable/.test(l)));
    } finally {
      await work.dispose();
    }
  });
});
