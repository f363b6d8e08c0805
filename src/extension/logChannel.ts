// The core's Logger on a LogOutputChannel: the user picks the level with the channel's own log-level control.

import * as vscode from 'vscode';
import type { Logger } from '../core';

export function channelLogger(channel: vscode.LogOutputChannel): Logger {
  return {
    trace: (m) => channel.trace(m),
    debug: (m) => channel.debug(m),
    info: (m) => channel.info(m),
    warn: (m) => channel.warn(m),
    error: (m) => channel.error(m),
  };
}
