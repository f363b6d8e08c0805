// A real server on a real socket (port 0) over a real temporary catalog of crafted images.

import { mkdtempSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { UpdateServer, type UpdateServerOptions } from '../../src/core/updateServer';
import { levelLogger } from '../../src/core/log';
import { esp32App, esp32Bootloader, esp8266ArduinoApp, gzipOf, partitionTable } from './images';

export interface LogLine {
  level: string;
  message: string;
}

/** Hashing work a server did, counted from its catalog's analysis events. */
export interface HashWork {
  /** File versions hashed (x-MD5). */
  hashes: number;
  /** Versions whose running-image MD5 variants were computed. */
  variants: number;
}

export function countHashWork(server: UpdateServer): HashWork {
  const work: HashWork = { hashes: 0, variants: 0 };
  server.catalog.onDidAnalyzeImage((analysis) => {
    if (analysis.work === 'hash') work.hashes++;
    else work.variants++;
  });
  return work;
}

export interface ServerFixture {
  server: UpdateServer;
  work: HashWork;
  port: number;
  catalog: string;
  outside: string;
  logs: LogLine[];
  files: Record<string, Buffer>;
  stop(): Promise<void>;
}

export const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** The catalog of protocol.md §7 plus real images of each kind, and things outside it to try to reach. */
export function writeStandardCatalog(): {
  base: string;
  catalog: string;
  outside: string;
  files: Record<string, Buffer>;
} {
  const base = mkdtempSync(join(tmpdir(), 'acus-'));
  const catalog = join(base, 'ota');
  const outside = join(base, 'private');
  mkdirSync(join(catalog, 'sub'), { recursive: true });
  mkdirSync(outside);
  mkdirSync(`${catalog}-x`);
  const files: Record<string, Buffer> = {
    'a.bin': esp8266ArduinoApp({ payloadSize: 300_000, seed: 1 }),
    'esp32.bin': esp32App({ chip: 'esp32', version: '1.0.0', projectName: 'sensor', payloadSize: 200_000, seed: 2 }),
    's3.bin': esp32App({ chip: 'esp32s3', version: '2.0.0', projectName: 'camera', payloadSize: 200_000, seed: 3 }),
    'bootloader.bin': esp32Bootloader(),
    'partitions.bin': partitionTable(),
    'd.bin.gz': gzipOf(esp8266ArduinoApp({ payloadSize: 100_000, seed: 4 })),
    'b.bin': Buffer.concat([Buffer.from([0x00]), Buffer.alloc(1000, 7)]),
    'C.BIN': Buffer.concat([Buffer.from([0xe9]), Buffer.alloc(1000, 7)]),
    'notes.txt': Buffer.from('release notes\n'),
    'sub/a.bin': esp8266ArduinoApp({ payloadSize: 200_000, seed: 5 }),
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(catalog, name), data);
  // Fixed times so the listing's date and time are predictable and ordered.
  const times: Record<string, string> = {
    'a.bin': '2023-02-22T18:55:00',
    'esp32.bin': '2023-03-01T09:05:12',
    's3.bin': '2023-03-02T10:00:00',
    'd.bin.gz': '2023-01-01T00:00:00',
  };
  for (const [name, time] of Object.entries(times)) utimesSync(join(catalog, name), new Date(time), new Date(time));
  writeFileSync(join(outside, 'secret.txt'), 'wifi password\n');
  writeFileSync(join(outside, 'secret.bin'), esp8266ArduinoApp({ payloadSize: 50_000, seed: 9 }));
  writeFileSync(join(base, 'secret.txt'), 'top secret\n');
  writeFileSync(join(`${catalog}-x`, 'sibling.bin'), esp8266ArduinoApp({ payloadSize: 50_000, seed: 10 }));
  symlinkSync(join(outside, 'secret.bin'), join(catalog, 'link.bin'));
  symlinkSync(outside, join(catalog, 'outlink'));
  return { base, catalog, outside, files };
}

export async function startServer(
  catalog: string,
  options: Partial<UpdateServerOptions> = {},
): Promise<{ server: UpdateServer; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const server = await UpdateServer.start({
    catalogDir: catalog,
    port: 0,
    host: '127.0.0.1',
    logger: levelLogger('debug', (level, message) => logs.push({ level, message })),
    ...options,
  });
  return { server, logs };
}

export async function standardFixture(options: Partial<UpdateServerOptions> = {}): Promise<ServerFixture> {
  const { base, catalog, outside, files } = writeStandardCatalog();
  const { server, logs } = await startServer(catalog, options);
  return {
    server,
    work: countHashWork(server),
    port: server.port,
    catalog,
    outside,
    logs,
    files,
    stop: async () => {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export const catalogName = (catalog: string) => basename(catalog);
