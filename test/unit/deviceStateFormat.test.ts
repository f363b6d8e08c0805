// The state file's on-disk form: format 2 (builds once, short references, reasons once) reads back to exactly what
// was written; a real format-1 file written by the previous version (test/fixtures, written by the server at 76ecbdb
// from raw-socket devices) still loads, whole, and is written as format 2 at the next save with the old file kept.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceInventory } from '../../src/core/devices/deviceInventory';
import {
  STATE_FILE,
  STATE_VERSION,
  parseDeviceState,
  type DeviceStateDoc,
  type StoredDevice,
} from '../../src/core/devices/deviceState';
import { buildRefs } from '../../src/core/devices/stateRefs';
import { serializeDeviceState, serializeDeviceStateInSlices } from '../../src/core/devices/stateWriter';
import { yieldIfBusy } from '../../src/core/work/loopTurn';
import { levelLogger } from '../../src/core/log';

const FIXTURE_V1 = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'autoconnect-devices-v1.json');
const md5a = '801c776c1370735c66bf919c7f9db7a2';
const md5b = '425c097d8a4fb31013c90a55368cd417';
// Two builds whose MD5s share 10 hex digits: their references must be longer than 8 to tell them apart.
const twinA = 'abcdef0123aaaaaaaaaaaaaaaaaaaaaa';
const twinB = 'abcdef0123bbbbbbbbbbbbbbbbbbbbbb';
const variant = 'f'.repeat(32); // what an ESP8266 reports for build a: its flash, mode byte rewritten

function sampleDoc(): DeviceStateDoc {
  const devices: StoredDevice[] = [
    {
      mac: '18:FE:34:00:00:0A',
      name: 'shelf left',
      lastSeen: '2026-12-01T14:47:52Z',
      family: 'esp8266',
      chip: 'esp8266',
      address: '192.168.1.23',
      firstSeen: '2026-11-30T09:00:00Z',
      chipSize: 4194304,
      freeSpace: 1044480,
      sdkVersion: '2.2.2-dev(38a443e)',
      held: true,
      running: {
        md5: variant,
        build: md5a,
        image: 'blinky-d1_mini.bin',
        project: 'blinky',
        environment: 'd1_mini',
        chip: 'esp8266',
        builtAt: '2026-12-01T14:40:00Z',
      },
      updates: [
        { image: 'blinky-d1_mini.bin', at: '2026-12-01T14:47:52Z', outcome: 'not-modified', md5: variant, count: 12 },
        { image: 'blinky-d1_mini.bin', at: '2026-12-01T14:46:00Z', outcome: 'confirmed', md5: md5a },
        {
          image: 'blinky-d1_mini.bin',
          at: '2026-12-01T14:45:00Z',
          outcome: 'rolled-back',
          md5: md5b,
          reason: 'the device still runs the build it had before the update',
        },
        {
          image: 'littlefs.bin',
          at: '2026-12-01T14:44:00Z',
          outcome: 'downloaded',
          md5: twinA,
          filesystem: true,
        },
        {
          image: 'blinky-d1_mini.bin',
          at: '2026-12-01T14:43:00Z',
          outcome: 'refused',
          status: 403,
          reason: 'blinky-d1_mini.bin: image is 1.2 MB, the device has 1020 KB free for it',
        },
      ],
    },
    {
      mac: '18:FE:34:00:00:0B',
      apMac: '1A:FE:34:00:00:0B',
      chipId: '10066124',
      lastSeen: '2026-12-01T14:40:00Z',
      family: 'esp8266',
      chip: 'esp8266',
      address: '192.168.1.24',
      firstSeen: '2026-12-01T14:00:00Z',
      // A build the file does not hold any more: its facts stay with the board.
      running: { md5: 'c'.repeat(32), project: 'old', environment: 'd1_mini', builtAt: '2026-10-01T00:00:00Z' },
      updates: [
        {
          image: 'blinky-d1_mini.bin',
          at: '2026-12-01T14:40:00Z',
          outcome: 'downloading',
          md5: twinB,
          from: md5b,
        },
        {
          image: 'blinky-d1_mini.bin',
          at: '2026-12-01T14:39:00Z',
          outcome: 'rolled-back',
          md5: md5a,
          reason: 'the device still runs the build it had before the update',
        },
        { image: 'blinky-d1_mini.bin', at: '2026-12-01T14:38:00Z', outcome: 'aborted', md5: 'd'.repeat(32) },
      ],
    },
    {
      // Another board that sent the MAC of 18:FE:34:00:00:0B with another identity.
      mac: '18:FE:34:00:00:0B',
      twin: 2,
      apMac: '1A:FE:34:00:00:66',
      lastSeen: '2026-12-01T14:35:00Z',
      family: 'esp32',
      chip: 'esp32',
      address: '192.168.1.66',
      firstSeen: '2026-12-01T14:35:00Z',
      updates: [],
    },
    {
      mac: '24:0A:C4:00:00:01',
      lastSeen: '2026-12-01T14:30:00Z',
      family: 'esp32',
      chip: 'esp32s3',
      address: '192.168.1.30',
      firstSeen: '2026-12-01T14:30:00Z',
      running: {
        sha256: 'e'.repeat(64),
        build: twinA,
        image: 'sensor.bin',
        project: 'sensor',
        chip: 'esp32s3',
        version: '1.4.0',
      },
      updates: [],
    },
  ];
  return {
    version: STATE_VERSION,
    devices,
    builds: [
      {
        md5: md5a,
        image: 'blinky-d1_mini.bin',
        seenAt: '2026-12-01T14:40:00Z',
        size: 120992,
        chip: 'esp8266',
        project: 'blinky',
        environment: 'd1_mini',
        builtAt: '2026-12-01T14:40:00Z',
      },
      {
        md5: twinA,
        sha256: 'e'.repeat(64),
        image: 'sensor.bin',
        seenAt: '2026-12-01T14:20:00Z',
        chip: 'esp32s3',
        project: 'sensor',
        version: '1.4.0',
      },
      { md5: twinB, image: 'other.bin', seenAt: '2026-12-01T14:10:00Z' },
      { md5: md5b, image: 'blinky-d1_mini.bin', seenAt: '2026-12-01T14:00:00Z' },
    ],
  };
}

describe('device state file: format 2', () => {
  it('reads back exactly what it wrote', () => {
    const doc = sampleDoc();
    const text = serializeDeviceState(doc);
    const parsed = parseDeviceState(text);
    assert.ok(parsed.ok);
    assert.equal(parsed.dropped, 0);
    assert.equal(parsed.version, 2);
    assert.deepEqual(parsed.doc, doc);
  });

  it('writes the same text in slices of the loop as at once, for a large fleet', async () => {
    const base = sampleDoc();
    const doc: DeviceStateDoc = {
      ...base,
      builds: [
        ...base.builds,
        ...Array.from({ length: 800 }, (_, i) => ({
          md5: i.toString(16).padStart(32, '0'),
          image: `b-${i}.bin`,
          seenAt: '2026-12-01T13:00:00Z',
        })),
      ],
      devices: Array.from({ length: 400 }, (_, i) => ({
        ...base.devices[i % base.devices.length]!,
        mac: `18:FE:34:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
      })),
    };
    const expected = serializeDeviceState(doc);
    yieldIfBusy();
    const until = performance.now() + 5;
    while (performance.now() < until) {
      // this turn is spent: the writing goes on in later turns
    }
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const text = await serializeDeviceStateInSlices(doc);
    clearInterval(ticker);
    assert.ok(turns > 0, 'other work ran meanwhile');
    assert.equal(text, expected);
    const parsed = parseDeviceState(text);
    assert.ok(parsed.ok);
    assert.equal(parsed.doc.devices.length, 400);
  });

  it('saveNow waits for a save the timer started and that is still making its snapshot', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'acus-savenow-'));
    const inventory = new DeviceInventory({ logger: levelLogger('warn', () => undefined), saveDelayMs: 0 });
    try {
      const file = path.join(dir, STATE_FILE);
      await inventory.open(file);
      const base = sampleDoc().devices[0]!;
      inventory.registry.restore(
        Array.from({ length: 1000 }, (_, i) => ({
          ...base,
          mac: `18:FE:34:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`.toUpperCase(),
        })),
      );
      assert.ok(inventory.registry.rename('18:FE:34:00:03:E7', 'the last one'));
      // The timer's save starts; its snapshot of 1000 boards goes a few boards per turn of the loop.
      await new Promise((resolve) => setTimeout(resolve, 5));
      yieldIfBusy();
      const spent = performance.now() + 5;
      while (performance.now() < spent) {
        // this turn is spent: the snapshot goes on in later turns
      }
      await inventory.saveNow();
      const parsed = parseDeviceState(await fs.readFile(file, 'utf8'));
      assert.ok(parsed.ok);
      assert.equal(parsed.doc.devices.length, 1000, 'the file holds what was saved when saveNow resolved');
      assert.equal(parsed.doc.devices.find((d) => d.mac === '18:FE:34:00:03:E7')?.name, 'the last one');
    } finally {
      await inventory.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('writes a build once, refers to it by a short MD5 prefix, and a recurring reason once', () => {
    const text = serializeDeviceState(sampleDoc());
    const data = JSON.parse(text) as { devices: Array<Record<string, unknown>>; reasons: string[] };
    assert.equal(text.split(md5a).length - 1, 1, 'the MD5 of build a is written in full once, in builds');
    assert.equal(text.split('"project":"blinky"').length - 1, 1, 'its facts once');
    assert.ok(text.includes('"confirmed":"2026-12-01T14:46:00Z","md5":"801c776c"'), 'keyed by outcome, 8 digits');
    assert.ok(text.includes(`"md5":"${twinA.slice(0, 11)}"`), 'a longer prefix where two builds share 8 digits');
    assert.ok(text.includes(`"md5":"${variant}"`), 'an MD5 that is no build is written whole');
    assert.deepEqual(data.reasons, ['the device still runs the build it had before the update']);
    assert.equal(data.devices[0]!.image, 'blinky-d1_mini.bin', 'the entry the board asks for, once');
    assert.equal(text.split('"image":"littlefs.bin"').length - 1, 1, 'an update names another entry itself');
    assert.ok(!text.includes('\n  '), 'not indented');
    const lines = text.split('\n');
    assert.equal(lines.filter((l) => /^\{"md5":.*\},?$/.test(l)).length, 4, 'one build per line');
    assert.equal(lines.filter((l) => /^\{"mac":.*\},?$/.test(l)).length, 4, 'one board per line');
  });

  it('gives every build a prefix that only it starts with', () => {
    const md5s = Array.from(
      { length: 3000 },
      (_, i) => (i % 7 === 0 ? '00000000' : '') + i.toString(16).padStart(8, '0').repeat(4),
    ).map((s) => s.slice(0, 32));
    const refs = buildRefs(md5s);
    for (const [md5, ref] of refs) {
      assert.ok(ref.length >= 8 && md5.startsWith(ref));
      assert.equal(md5s.filter((m) => m.startsWith(ref)).length, 1, `${ref} names one build`);
    }
  });

  it('drops what a hand edit broke, field by field, and keeps the rest', () => {
    const text = JSON.stringify({
      version: 2,
      builds: [
        { md5: twinA, image: 'a.bin', seenAt: '2026-12-01T14:00:00Z' },
        { md5: twinB, image: 'b.bin', seenAt: '2026-12-01T14:00:00Z' },
      ],
      reasons: ['kept reason', 42],
      devices: [
        {
          mac: '18:FE:34:00:00:01',
          lastSeen: '2026-12-01T14:47:52Z',
          image: 'a.bin',
          running: { md5: 'c'.repeat(32), build: '99999999' },
          updates: [
            { confirmed: '2026-12-01T14:47:52Z', md5: 'abcdef01' }, // both twins start with it: no md5
            { refused: '2026-12-01T14:47:00Z', reason: 7, status: 404 }, // no such reason: none
            { aborted: '2026-12-01T14:46:00Z', reason: 0, md5: 'abcdef0123b' },
            { confirmed: '2026-12-01T14:45:00Z', aborted: '2026-12-01T14:45:00Z' }, // two outcomes: dropped
            { 'rolled-back': 'soon' }, // no time: dropped
            { downloaded: '2026-02-30T10:00:00Z', image: 'b.bin' }, // not a day: read as the date does
          ],
        },
      ],
    });
    const parsed = parseDeviceState(text);
    assert.ok(parsed.ok);
    const device = parsed.doc.devices[0]!;
    assert.deepEqual(device.running, { md5: 'c'.repeat(32) });
    assert.deepEqual(device.updates, [
      { image: 'a.bin', at: '2026-12-01T14:47:52Z', outcome: 'confirmed' },
      { image: 'a.bin', at: '2026-12-01T14:47:00Z', outcome: 'refused', status: 404 },
      { image: 'a.bin', at: '2026-12-01T14:46:00Z', outcome: 'aborted', md5: twinB, reason: 'kept reason' },
      { image: 'b.bin', at: '2026-03-02T10:00:00Z', outcome: 'downloaded' },
    ]);
  });
});

describe('device state file: a format-1 file of the previous version', () => {
  let dir: string;
  before(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'state-v1-')));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('loads whole, is written as format 2 at the next save, and the old file is kept beside it', async () => {
    const original = await fs.readFile(FIXTURE_V1, 'utf8');
    assert.match(original, /^\{"version":1,/);
    const file = path.join(dir, STATE_FILE);
    await fs.writeFile(file, original);
    const logs: string[] = [];
    const logger = levelLogger('debug', (level, message) => logs.push(`${level} ${message}`));
    const inventory = new DeviceInventory({ logger });
    await inventory.open(file);

    const v1 = parseDeviceState(original);
    assert.ok(v1.ok && v1.version === 1 && v1.dropped === 0);
    const devices = inventory.registry.list();
    assert.deepEqual(devices.map((d) => [d.key, d.name, d.held]).sort(), [
      ['18:FE:34:00:00:0A', 'shelf left', false],
      ['18:FE:34:00:00:0B', undefined, true],
      ['18:FE:34:00:00:0D', undefined, false],
      ['24:0A:C4:00:00:01', 'bench esp32-s3', false],
    ]);
    const a = inventory.registry.get('18:FE:34:00:00:0A')!;
    assert.deepEqual(
      a.updates.map((u) => [u.outcome, u.count]),
      [
        ['not-modified', undefined],
        ['confirmed', undefined],
        ['not-modified', 3],
      ],
    );
    assert.equal(a.running?.project, 'blinky');
    assert.equal(a.running?.environment, 'd1_mini');
    const b = inventory.registry.get('18:FE:34:00:00:0B')!;
    assert.match(b.updates.find((u) => u.outcome === 'rolled-back')!.reason!, /still runs the build it had/);
    assert.match(b.running?.image ?? '', /^blinky-d1_mini-\d{8}-\d{6}\.bin$/, 'the dated copy it runs');
    assert.equal(inventory.registry.get('24:0A:C4:00:00:01')!.running?.version, '1.4.0');
    assert.equal(inventory.builds.size, 3);
    assert.equal(logs.filter((l) => l.includes('device state')).length, 1, 'one log line');
    assert.match(
      logs.find((l) => l.includes('device state'))!,
      /^info .*format 1 read.*kept as/,
    );
    assert.equal(await fs.readFile(`${file}.v1`, 'utf8'), original, 'the old file is kept as it was');

    const before = inventory.snapshot();
    inventory.registry.rename('18:FE:34:00:00:0D', 'shelf right'); // a change, so it is written
    await inventory.close();
    const written = await fs.readFile(file, 'utf8');
    assert.match(written, /^\{"version":2,/);
    assert.ok(written.length < original.length, `${written.length} < ${original.length} bytes`);
    const reread = new DeviceInventory({ logger });
    await reread.open(file);
    const after = reread.snapshot();
    const d = after.devices.find((x) => x.mac === '18:FE:34:00:00:0D')!;
    assert.equal(d.name, 'shelf right');
    delete d.name;
    assert.deepEqual(after, before, 'format 2 holds everything format 1 held');
    reread.dispose();
  });
});
