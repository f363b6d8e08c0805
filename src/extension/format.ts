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

export function sketchSnippet(host: string, port: number): string {
  return `AutoConnectUpdate update("${host}", ${port});`;
}
