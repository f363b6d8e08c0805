// The one owner of the device state file. Reads tolerate anything (a missing file is an empty fleet; a corrupt,
// unreadable or newer-format one is moved aside with one log line, and the server starts); writes are atomic (temp
// file in the same folder, fsync, rename, fsync of the folder), so a crash leaves the old document or the new one.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { errorMessage } from '../errorMessage';
import { MAX_STATE_BYTES, STATE_VERSION, emptyState, parseDeviceState, type DeviceStateDoc } from './deviceState';
import { serializeDeviceStateInSlices } from './stateWriter';
import { syncFolder } from '../syncFolder';

export interface LoadedState {
  doc: DeviceStateDoc;
  /** Where a bad file was moved, when it was. */
  setAside?: string;
}

export class DeviceStateFile {
  private writing: Promise<void> = Promise.resolve();
  private next: DeviceStateDoc | undefined;
  /** Off when a file that could not be read could not be moved aside either: never overwrite what we cannot read. */
  private writable = true;
  /** Bytes of the last document written (a bench and diagnostics figure). */
  lastWrittenBytes = 0;
  /** The file as this process last read or wrote it (inode, size, mtime): another writer changes it. */
  private seen: string | undefined;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  async load(): Promise<LoadedState> {
    await this.removeStaleTemps();
    let text: string;
    try {
      const handle = await fs.open(this.file, 'r');
      try {
        const stats = await handle.stat();
        if (!stats.isFile()) return this.setAside(`is not a file`);
        if (stats.size > MAX_STATE_BYTES) return this.setAside(`is ${stats.size} bytes, more than a state file holds`);
        text = await handle.readFile('utf8');
        this.seen = identity(stats);
      } finally {
        await handle.close();
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.seen = undefined;
        return { doc: emptyState() };
      }
      return this.setAside(`cannot be read (${code ?? errorMessage(error)})`);
    }
    const parsed = parseDeviceState(text);
    if (!parsed.ok) return this.setAside(parsed.reason);
    if (parsed.dropped > 0)
      this.logger.warn(
        `device state ${this.file}: ${parsed.dropped} record(s) were dropped (malformed, repeated or beyond the bounds)`,
      );
    if (parsed.version < STATE_VERSION) await this.keepOlderFormat(parsed.version);
    return { doc: parsed.doc };
  }

  /**
   * A crash between a write's temp file and its rename leaves `.<name>.<hex>.tmp` beside the file. Only this file's
   * own temps are removed, and only those older than a minute: a write of another process (a second editor window,
   * the CLI) takes milliseconds, so a younger one may still be under way.
   */
  private async removeStaleTemps(olderThanMs = 60_000): Promise<void> {
    const dir = path.dirname(this.file);
    const own = new RegExp(`^\\.${escapeRegExp(path.basename(this.file))}\\.[0-9a-f]{12}\\.tmp$`);
    let names: string[];
    try {
      names = (await fs.readdir(dir)).filter((name) => own.test(name));
    } catch {
      return; // no folder yet, or unreadable: nothing of ours to tidy
    }
    for (const name of names) {
      const temp = path.join(dir, name);
      try {
        const stats = await fs.lstat(temp);
        if (!stats.isFile() || Date.now() - stats.mtimeMs < olderThanMs) continue;
        await fs.rm(temp, { force: true });
        this.logger.debug(`device state: removed ${name}, left by a write that did not finish`);
      } catch {
        // gone meanwhile, or not ours to remove: leave it
      }
    }
  }

  /** Writes `doc` (atomically). Writes are serialised; a write asked for while one runs is coalesced into the next. */
  save(doc: DeviceStateDoc): Promise<void> {
    if (!this.writable) return Promise.resolve();
    const pending = this.next !== undefined;
    this.next = doc;
    if (pending) return this.writing;
    const run = this.writing.then(async () => {
      const latest = this.next;
      this.next = undefined;
      if (latest) await this.write(latest);
    });
    this.writing = run.catch((error: unknown) =>
      this.logger.warn(`device state ${this.file} not saved: ${errorMessage(error)}`),
    );
    return this.writing;
  }

  /**
   * Whether another process wrote the file since this one last read or wrote it (a second editor window or the CLI
   * on the same catalog): then it is read and merged before the next write, so neither loses the other's boards.
   */
  async changedByAnother(): Promise<boolean> {
    await this.writing;
    try {
      return identity(await fs.stat(this.file)) !== this.seen;
    } catch {
      return false; // gone, or unreadable: there is nothing to take in
    }
  }

  /** Resolves when every write asked for so far is on disk. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.next) await this.save(this.next);
  }

  private async write(doc: DeviceStateDoc): Promise<void> {
    const text = await serializeDeviceStateInSlices(doc);
    const dir = path.dirname(this.file);
    await fs.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.${path.basename(this.file)}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fs.open(temp, 'wx');
    let written: string;
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      written = identity(await handle.stat());
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await fs.rename(temp, this.file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    this.seen = written;
    this.lastWrittenBytes = Buffer.byteLength(text);
    await syncFolder(dir);
  }

  /**
   * A file of an older format is read and, at the next save, written in the current one. The old file is kept beside
   * it (`<file>.v1`), so that going back to the version that wrote it loses no board: that version sets a newer file
   * aside.
   */
  private async keepOlderFormat(version: number): Promise<void> {
    const copy = `${this.file}.v${version}`;
    try {
      await fs.copyFile(this.file, copy);
      this.logger.info(
        `device state ${this.file}: format ${version} read; it is written as format ${STATE_VERSION} from now on (the old file is kept as ${path.basename(copy)})`,
      );
    } catch (error) {
      this.logger.warn(
        `device state ${this.file}: format ${version} read, but no copy of it could be kept (${errorMessage(error)})`,
      );
    }
  }

  private async setAside(why: string): Promise<LoadedState> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    const aside = `${this.file}.bad-${stamp}`;
    try {
      await fs.rename(this.file, aside);
      this.logger.warn(
        `device state ${this.file} ${why}: moved aside to ${path.basename(aside)}, starting with no devices`,
      );
      return { doc: emptyState(), setAside: aside };
    } catch (error) {
      this.writable = false;
      this.logger.warn(
        `device state ${this.file} ${why}, and it cannot be moved aside (${errorMessage(error)}): devices are not remembered this session`,
      );
      return { doc: emptyState() };
    }
  }
}

function identity(stats: { ino: number; size: number; mtimeMs: number }): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
