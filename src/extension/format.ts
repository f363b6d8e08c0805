// Plain formatting for views and messages (no vscode import, so it is unit-testable).

import type { ImageInfo } from '../core';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MB`;
}

export function formatFlash(bytes: number | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MB flash` : `${bytes / 1024} KB flash`;
}

const chipNames: Record<string, string> = {
  esp8266: 'ESP8266',
  esp32: 'ESP32',
  esp32s2: 'ESP32-S2',
  esp32s3: 'ESP32-S3',
  esp32c2: 'ESP32-C2',
  esp32c3: 'ESP32-C3',
  esp32c5: 'ESP32-C5',
  esp32c6: 'ESP32-C6',
  esp32c61: 'ESP32-C61',
  esp32h2: 'ESP32-H2',
  esp32p4: 'ESP32-P4',
};

export function chipLabel(info: Pick<ImageInfo, 'chip' | 'family'> | undefined): string | undefined {
  const chip = info?.chip ?? info?.family;
  return chip ? (chipNames[chip] ?? chip.toUpperCase()) : undefined;
}

export function familyLabel(family: string | undefined): string | undefined {
  return family ? (chipNames[family] ?? family.toUpperCase()) : undefined;
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
