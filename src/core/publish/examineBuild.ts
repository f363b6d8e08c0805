// One look at a build output: read it once (bounded), analyse and hash those bytes in the image worker, and decide
// what it is: a build ready for the catalog, one still being written, or one that is never published (with the
// reason). An ESP8266 build signed with a private.key is judged by its `.bin.signed`. Nothing is written here.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MAX_IMAGE_BYTES, type ImageInfo } from '../firmware/imageInfo';
import { checkSignedImage } from '../firmware/signedImage';
import { NotReadError, readBounded } from '../readBounded';
import type { ImageWork } from '../work/imageWork';
import { SIGNED_SUFFIX, type BuildOutput } from './discover';
import type { SkipCode } from './publishEvents';

/** A build's bytes with their verdict and digests, from one examination. */
export interface ExaminedBuild {
  bytes: Buffer;
  info: ImageInfo;
  md5: string;
  sha256: string;
}

export type Examination =
  | ({ kind: 'ready' } & ExaminedBuild)
  /** Gone since it was reported. */
  | { kind: 'missing'; reason: string }
  /** Never published as it is now (until the file changes). */
  | { kind: 'skip'; code: SkipCode; reason: string; info?: ImageInfo }
  /** Not complete (yet): looked at again while a build may still be writing it. */
  | { kind: 'incomplete'; code: SkipCode; reason: string; info: ImageInfo };

const BEING_WRITTEN: ImageInfo = {
  kind: 'not-an-image',
  compressed: false,
  complete: false,
  reason: 'incomplete: the file is being written',
};

/** The `<output>.signed` beside an application output (none for filesystem images). */
export function signedFileOf(output: BuildOutput): string | undefined {
  return output.filesystem ? undefined : `${output.file}${SIGNED_SUFFIX}`;
}

/**
 * Reads and judges `output`. `signedPresent`: whether its `.signed` file was there when it was stat'ed. Bounded: a
 * FIFO, a device, a link or a file larger than any image is skipped, never read.
 */
export async function examineBuild(output: BuildOutput, work: ImageWork, signedPresent: boolean): Promise<Examination> {
  const { file } = output;
  let read;
  try {
    read = await readBounded(file, MAX_IMAGE_BYTES);
  } catch (error) {
    if (!(error instanceof NotReadError)) throw error;
    if (error.code === 'missing') return { kind: 'missing', reason: `${file} ${error.message}` };
    return { kind: 'skip', code: 'unreadable', reason: error.message };
  }
  const { bytes } = read;
  // Analysed and hashed in the image worker: a 16 MB build would hold the editor's loop for tens of ms.
  const { info, md5, sha256 } = read.changed
    ? { info: BEING_WRITTEN, md5: '', sha256: '' }
    : await work.examine(bytes, path.basename(file));
  // Incomplete comes first: the first bytes of an app being written can look like anything (a few bytes of an
  // ESP32 app have no app descriptor yet), so only a complete file gets a final verdict.
  if (!info.complete) return incomplete(output, info);
  if (output.filesystem) {
    if (info.kind === 'filesystem') return { kind: 'ready', bytes, info, md5, sha256 };
    const what = info.kind === 'app' ? 'an application image' : (info.reason ?? info.kind);
    return { kind: 'skip', code: 'not-a-filesystem', reason: `named like a filesystem image, but it is ${what}`, info };
  }
  if (info.kind !== 'app') {
    return { kind: 'skip', code: 'not-an-app', reason: info.reason ?? `not an application image (${info.kind})`, info };
  }
  if (info.compressed && info.family !== 'esp8266') {
    return { kind: 'skip', code: 'wrong-family', reason: 'gzip images are only accepted by ESP8266 devices', info };
  }
  return signedImage(output, work, { bytes, info, md5, sha256 }, signedPresent);
}

function incomplete(output: BuildOutput, info: ImageInfo, code?: SkipCode): Examination {
  return {
    kind: 'incomplete',
    code: code ?? (info.kind === 'app' ? 'incomplete' : output.filesystem ? 'not-a-filesystem' : 'not-an-app'),
    reason:
      info.reason ??
      (info.kind === 'app' ? 'image is incomplete (still being written?)' : `not an application image (${info.kind})`),
    info,
  };
}

/**
 * An ESP8266 build signed with a private.key writes `<output>.signed` after the `.bin`; a device that verifies
 * signatures accepts only that file, so it is what gets published (under the `.bin` name: devices list only
 * `.bin`). A signed file that does not check out is never published in its place, and neither is the unsigned
 * `.bin` of a build that is being signed: both wait like an incomplete image, then are skipped with the reason.
 */
async function signedImage(
  output: BuildOutput,
  work: ImageWork,
  unsigned: ExaminedBuild,
  present: boolean,
): Promise<Examination> {
  const { bytes, info } = unsigned;
  const signedFile = signedFileOf(output);
  if (!signedFile || !present) {
    if (info.signed || !(await expectsSignature(output))) return { kind: 'ready', ...unsigned };
    const reason = `a signed build is expected (private.key in ${output.target.projectDir}) but no ${path.basename(signedFile ?? '')} is there`;
    return incomplete(output, { ...info, complete: false, reason }, 'bad-signature');
  }
  const signed = await readBounded(signedFile, MAX_IMAGE_BYTES).then(
    (read) => (read.changed ? undefined : read.bytes),
    () => undefined,
  );
  const check = signed ? checkSignedImage(bytes, signed) : undefined;
  const examined = signed && check?.ok ? await work.examine(signed, path.basename(output.file)) : undefined;
  const signedInfo = examined?.info;
  if (signed && examined && signedInfo?.kind === 'app' && signedInfo.complete && signedInfo.signed) {
    return { kind: 'ready', bytes: signed, info: signedInfo, md5: examined.md5, sha256: examined.sha256 };
  }
  const reason = check && !check.ok ? check.reason : `${path.basename(signedFile)} is not a signed image of the .bin`;
  return incomplete(output, { ...info, complete: false, reason }, 'bad-signature');
}

/** Arduino's signing recipe signs only when the sketch folder holds private.key (tools/signing.py --mode sign). */
async function expectsSignature(output: BuildOutput): Promise<boolean> {
  const { tool, projectDir } = output.target;
  if (tool !== 'arduino-cli' && tool !== 'arduino-ide1' && tool !== 'vscode-arduino') return false;
  if (output.compressed) return false;
  return (await fs.stat(path.join(projectDir, 'private.key')).catch(() => undefined))?.isFile() ?? false;
}
