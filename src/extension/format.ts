// Plain formatting for views and messages (no vscode import, so it is unit-testable).

import { chipDisplayName, type ImageInfo } from '../core';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MB`;
}

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

export function formatAgo(at: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}

export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0) return '';
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

export function sketchSnippet(host: string, port: number): string {
  return `AutoConnectUpdate update("${host}", ${port});`;
}
