// Small statistics and formatting helpers. Percentiles are nearest-rank on the sorted sample (p99 of 400 samples is
// the 396th value), so a reported p99 is always a latency that was actually observed.

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export const median = (values) => percentile(values, 50);

export function mean(values) {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

export const MB = 1024 * 1024;

export function ms(value) {
  if (!Number.isFinite(value)) return '—';
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

export function secs(valueMs) {
  return Number.isFinite(valueMs) ? `${(valueMs / 1000).toFixed(2)} s` : '—';
}

export function ratio(value, digits = 2) {
  return Number.isFinite(value) ? `${value.toFixed(digits)}×` : '—';
}

export function mb(bytes, digits = 1) {
  return Number.isFinite(bytes) ? `${(bytes / MB).toFixed(digits)} MB` : '—';
}

export function mbps(bytesPerSec) {
  return Number.isFinite(bytesPerSec) ? `${(bytesPerSec / MB).toFixed(0)} MB/s` : '—';
}

/** Renders rows (arrays of cells) under a header as a fixed-width text table. */
export function renderTable(header, rows) {
  const all = [header, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(all[0]), rule, ...all.slice(1).map(line)].join('\n');
}

/** "1 MB", "256 KB": sizes of images in case descriptions. */
export function sizeText(bytes) {
  return bytes >= MB ? `${+(bytes / MB).toFixed(2)} MB` : `${+(bytes / 1024).toFixed(0)} KB`;
}
