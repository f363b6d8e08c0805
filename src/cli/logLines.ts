// Log lines on stderr in the shape of python's logging (`2026-11-27 12:00:00,123 INFO message`), or, when stderr is
// the systemd journal, in its own form: `<6>message` (sd-daemon(3) priority prefix, no timestamp of ours, since the
// journal stamps every line), so `journalctl -p warning` filters by level and nothing is printed twice.

import { fstatSync } from 'node:fs';
import { levelLogger, type LogLevel, type Logger } from '../core';

const names: Record<LogLevel, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
};

/** syslog priorities: err 3, warning 4, info 6, debug 7. */
const priorities: Record<LogLevel, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3 };

export type LogFormat = 'python' | 'journal';

export function stderrLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  format: LogFormat = isJournal(process.env.JOURNAL_STREAM, 2) ? 'journal' : 'python',
): Logger {
  return levelLogger(level, (at, message) => {
    // One record per line: the journal (and grep) cut at newlines.
    const text = message.replace(/\r?\n/g, ' | ');
    write(format === 'journal' ? `<${priorities[at]}>${text}\n` : `${timestamp(new Date())} ${names[at]} ${text}\n`);
  });
}

/**
 * Whether `fd` is the journal stream systemd connected: it sets JOURNAL_STREAM to that stream's `device:inode`, which
 * a redirected stderr (a file, a pipe to another program) does not match.
 */
export function isJournal(journalStream: string | undefined, fd: number): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!match) return false;
  try {
    const stats = fstatSync(fd);
    return String(stats.dev) === match[1] && String(stats.ino) === match[2];
  } catch {
    return false;
  }
}

function timestamp(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())},${String(d.getMilliseconds()).padStart(3, '0')}`;
}
