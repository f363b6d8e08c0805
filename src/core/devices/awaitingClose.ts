// Downloads whose bytes are all with the kernel and whose verdict waits for the device to close its side. A board
// that flashed the image and restarted may send its next update request before that close is seen, or never send
// it. When that request comes from the same board (its MAC and hardware identity) and reports the downloaded image
// as running, the board plainly has the whole body: the download is settled as delivered then, so the log and the
// Devices view tell the same story (downloaded, then confirmed), instead of an abort 30 s later.

import type { DeviceIdentity } from './deviceRequest';

/** Which image a reported hash is, when it is a known build (the ESP8266 flash variants, an ESP32 app SHA-256). */
export interface ImageIdentifier {
  identify(hash: string | undefined): { md5: string } | undefined;
}

interface Awaiting {
  device: DeviceIdentity;
  md5: string;
  conclude: (how: string) => void;
}

export class DownloadsAwaitingClose {
  /** By STA MAC, then download id: a request of a board looks only at that board's downloads. */
  private readonly byMac = new Map<string, Map<number, Awaiting>>();

  constructor(private readonly images: ImageIdentifier) {}

  add(id: number, device: DeviceIdentity, md5: string, conclude: (how: string) => void): void {
    if (!device.staMac) return;
    let board = this.byMac.get(device.staMac);
    if (!board) this.byMac.set(device.staMac, (board = new Map()));
    board.set(id, { device, md5, conclude });
  }

  remove(id: number, mac: string): void {
    const board = this.byMac.get(mac);
    if (board?.delete(id) && board.size === 0) this.byMac.delete(mac);
  }

  /** A board asked again: its downloads of the image it now reports running are delivered. */
  settleFor(device: DeviceIdentity): void {
    const board = device.staMac ? this.byMac.get(device.staMac) : undefined;
    if (!board) return;
    for (const [id, awaiting] of [...board]) {
      if (!sameBoard(awaiting.device, device) || !this.runs(device, awaiting.md5)) continue;
      this.remove(id, device.staMac);
      awaiting.conclude('the device asked again, running it, before its close was seen');
    }
  }

  private runs(device: DeviceIdentity, md5: string): boolean {
    return (
      device.sketchMd5 === md5 ||
      this.images.identify(device.sketchMd5)?.md5 === md5 ||
      this.images.identify(device.sketchSha256)?.md5 === md5
    );
  }
}

/** The same MAC and the same hardware behind it (none of which changes on a real board). */
function sameBoard(a: DeviceIdentity, b: DeviceIdentity): boolean {
  return (
    a.staMac === b.staMac &&
    a.family === b.family &&
    a.apMac === b.apMac &&
    a.chipId === b.chipId &&
    (a.family !== 'esp8266' || a.chipSize === b.chipSize)
  );
}
