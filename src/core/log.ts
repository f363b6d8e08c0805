// Logging seam of the core: the CLI prints lines, the extension writes to a LogOutputChannel.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};

const order: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** A logger that forwards lines at or above `level` to `write`. */
export function levelLogger(level: LogLevel, write: (level: LogLevel, message: string) => void): Logger {
  const at = (l: LogLevel) => (message: string) => {
    if (order[l] >= order[level]) write(l, message);
  };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Python logging level names (what updateserver.py's --log takes) mapped onto ours. */
export function parsePythonLogLevel(name: string): LogLevel | undefined {
  switch (name.trim().toUpperCase()) {
    case 'NOTSET':
    case 'TRACE':
      return 'trace';
    case 'DEBUG':
      return 'debug';
    case 'INFO':
      return 'info';
    case 'WARN':
    case 'WARNING':
      return 'warn';
    case 'ERROR':
    case 'CRITICAL':
    case 'FATAL':
      return 'error';
    default:
      return undefined;
  }
}
