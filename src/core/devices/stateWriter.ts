// Writes the device state document as format 2: the facts of a build once, in `builds`; updates refer to builds by
// a short MD5 prefix and to recurring reasons by their index in `reasons`; the entry a board asks for once per board;
// an update's outcome is its key, with the time as its value.
// No indentation, one build or board per line (a readable diff). A thousand boards with twenty updates each stay
// under 2 MB. Everything read back is what was written: `parseDeviceState` expands the references.

import {
  STATE_VERSION,
  type DeviceStateDoc,
  type StoredBuild,
  type StoredDevice,
  type StoredRunning,
  type StoredUpdate,
} from './deviceState';
import { buildRefs, reasonTable } from './stateRefs';
import { yieldIfBusy } from '../work/loopTurn';

export function serializeDeviceState(doc: DeviceStateDoc): string {
  const writer = new CompactWriter(doc.builds, doc.devices);
  return (
    `{"version":${STATE_VERSION},\n` +
    `"builds":${lines(doc.builds)},\n` +
    `"reasons":${lines(writer.reasons)},\n` +
    `"devices":${lines(doc.devices.map((device) => writer.device(device)))}}\n`
  );
}

/**
 * The same text, a few records per turn of the loop: the state file is written after every change of the catalog,
 * and 1000 builds and boards written at once held the loop for 5-10 ms. Each record is written as it is then.
 */
export async function serializeDeviceStateInSlices(doc: DeviceStateDoc): Promise<string> {
  const writer = await CompactWriter.inSlices(doc.builds, doc.devices);
  const builds = await linesInSlices(doc.builds, (build) => build);
  const devices = await linesInSlices(doc.devices, (device) => writer.device(device));
  return (
    `{"version":${STATE_VERSION},\n` +
    `"builds":${builds},\n` +
    `"reasons":${lines(writer.reasons)},\n` +
    `"devices":${devices}}\n`
  );
}

class CompactWriter {
  private readonly refs: Map<string, string>;
  private readonly byMd5: Map<string, StoredBuild>;
  private readonly bySha = new Map<string, StoredBuild>();
  private readonly reasonIndex: Map<string, number>;
  readonly reasons: string[];

  constructor(
    builds: readonly StoredBuild[],
    devices: readonly StoredDevice[],
    refs = buildRefs(builds.map((build) => build.md5)),
    reasons = reasonTable(reasonsOf(devices)),
  ) {
    this.refs = refs;
    this.byMd5 = new Map(builds.map((build) => [build.md5, build]));
    for (const build of builds) if (build.sha256) this.bySha.set(build.sha256, build);
    this.reasons = reasons.table;
    this.reasonIndex = reasons.index;
  }

  /** The same writer, its tables made in turns of the loop: 1000 builds' references and 20,000 updates' reasons. */
  static async inSlices(builds: readonly StoredBuild[], devices: readonly StoredDevice[]): Promise<CompactWriter> {
    const refs = buildRefs(builds.map((build) => build.md5));
    const reasons: string[] = [];
    for (const device of devices) {
      await yieldIfBusy();
      for (const update of device.updates) if (update.reason) reasons.push(update.reason);
    }
    await yieldIfBusy();
    return new CompactWriter(builds, devices, refs, reasonTable(reasons));
  }

  device(device: StoredDevice): Record<string, unknown> {
    const { running, updates, ...fields } = device;
    const out: Record<string, unknown> = { ...fields };
    if (running) out.running = this.running(running);
    const image = mostAskedFor(updates);
    if (image) out.image = image;
    out.updates = updates.map((update) => this.update(update, image));
    return out;
  }

  private running(running: StoredRunning): Record<string, unknown> {
    const build =
      (running.build ? this.byMd5.get(running.build) : undefined) ??
      (running.md5 ? this.byMd5.get(running.md5) : undefined) ??
      (running.sha256 ? this.bySha.get(running.sha256) : undefined);
    const out: Record<string, unknown> = {};
    if (running.md5) out.md5 = running.md5;
    if (running.sha256) out.sha256 = running.sha256;
    // The catalog entry that holds it when saved: not always the name the build was first published as.
    if (running.image) out.image = running.image;
    if (build) {
      if (build.md5 !== running.md5) out.build = this.ref(build.md5);
      return out;
    }
    // A build the file does not hold (dropped by its bound, or from a hand-edited file): its facts stay here.
    const { md5: _md5, sha256: _sha256, image: _image, build: _build, ...facts } = running;
    return { ...out, ...facts };
  }

  private update(update: StoredUpdate, deviceImage: string | undefined): Record<string, unknown> {
    // Keyed by its outcome, whose value is the time: `{"confirmed":"2026-12-01T14:47:52Z","md5":"801c776c"}`.
    const out: Record<string, unknown> = { [update.outcome]: update.at };
    if (update.image !== deviceImage) out.image = update.image;
    if (update.md5) out.md5 = this.ref(update.md5);
    if (update.reason) out.reason = this.reasonIndex.get(update.reason) ?? update.reason;
    if (update.status !== undefined) out.status = update.status;
    if (update.count !== undefined) out.count = update.count;
    if (update.from) out.from = this.ref(update.from);
    if (update.filesystem) out.filesystem = true;
    return out;
  }

  private ref(md5: string): string {
    return this.refs.get(md5) ?? md5;
  }
}

function reasonsOf(devices: readonly StoredDevice[]): string[] {
  return devices.flatMap((device) => device.updates.flatMap((update) => (update.reason ? [update.reason] : [])));
}

/** The entry a board asked for most often (the newest of equals): written once, on the board. */
function mostAskedFor(updates: readonly StoredUpdate[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  for (const { image } of updates) {
    const n = (counts.get(image) ?? 0) + 1;
    counts.set(image, n);
    if (best === undefined || n > counts.get(best)!) best = image;
  }
  return best;
}

function lines(items: readonly unknown[]): string {
  return joinLines(items.map((item) => JSON.stringify(item)));
}

async function linesInSlices<T>(items: readonly T[], form: (item: T) => unknown): Promise<string> {
  const texts: string[] = [];
  for (const item of items) {
    await yieldIfBusy();
    texts.push(JSON.stringify(form(item)));
  }
  await yieldIfBusy();
  return joinLines(texts);
}

function joinLines(texts: readonly string[]): string {
  return texts.length === 0 ? '[]' : `[\n${texts.join(',\n')}\n]`;
}
