// Plain formatting for views and messages (no vscode import, so it is unit-testable).

import { chipDisplayName, type ImageInfo } from '../core';

// Sizes, rates and times: the core's one formatter, so the log and the views say the same.
export { formatAgo, formatBytes, formatDuration, formatRate, formatRateOf } from '../core';

export function formatFlash(bytes: number | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MB flash` : `${bytes / 1024} KB flash`;
}

export function chipLabel(info: Pick<ImageInfo, 'chip' | 'family'> | undefined): string | undefined {
  const chip = info?.chip ?? info?.family;
  return chip ? chipDisplayName(chip) : undefined;
}

export function familyLabel(family: string | undefined): string | undefined {
  return family ? chipDisplayName(family) : undefined;
}

/** The line a sketch needs; with a catalog key, the key is AutoConnectUpdate's third argument (its `uri`). */
export function sketchSnippet(host: string, port: number, key?: string): string {
  return key
    ? `AutoConnectUpdate update("${host}", ${port}, "${key}");`
    : `AutoConnectUpdate update("${host}", ${port});`;
}

/** The URL a polling sketch or a browser downloads an entry from (below the key folder when there is one). */
export function downloadUrl(address: string, relPath: string, key?: string): string {
  return `http://${address}/${key ? `${key}/` : ''}${relPath}`;
}
