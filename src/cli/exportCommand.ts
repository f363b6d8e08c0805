// `autoconnect-update-server export --nginx DIR`: the catalog as files and a configuration nginx serves as our
// server would. Parsing is separate from running so it can be tested without touching the disk.

import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { errorMessage, exportCatalogForNginx, parsePythonLogLevel, type LogLevel } from '../core';
import { stderrLogger } from './logLines';

export interface ExportOptions {
  nginx: string;
  catalog: string;
  port?: number;
  serverName?: string;
  logLevel: LogLevel;
  answerNotModified: boolean;
}

export type ExportCommand =
  { kind: 'export'; options: ExportOptions } | { kind: 'help' } | { kind: 'error'; message: string };

export const exportUsage = `usage: autoconnect-update-server export --nginx DIR [--catalog CATALOG] [--port PORT] [--server-name NAME]
                                        [--log LOG_LEVEL] [--no-304]

Writes the catalog into DIR for nginx: the images, the catalog answers precomputed per folder and chip family,
server.conf (a server block to include in your nginx), nginx.conf (runs as is: nginx -p DIR -c nginx.conf) and
README.txt (how to deploy it). A re-export replaces the previous one in one step; nginx -s reload picks it up.

options:
  --nginx DIR           the export folder (new, empty, or an earlier export)
  -d, --catalog CATALOG folder holding the firmware images (default: the current folder)
  -p, --port PORT       port nginx listens on for devices (default: the earlier export's, else 8000)
  --server-name NAME    nginx server_name (default: the earlier export's, else _)
  -l, --log LOG_LEVEL   DEBUG, INFO, WARNING, ERROR or CRITICAL (default: INFO)
  --no-304              always send the image, even to a device that already runs it
  -h, --help            show this help message and exit
`;

export function parseExport(argv: readonly string[], cwd: string): ExportCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        nginx: { type: 'string' },
        catalog: { type: 'string', short: 'd' },
        port: { type: 'string', short: 'p' },
        'server-name': { type: 'string' },
        log: { type: 'string', short: 'l' },
        'no-304': { type: 'boolean' },
      },
    });
  } catch (error) {
    return { kind: 'error', message: errorMessage(error) };
  }
  const values = parsed.values;
  if (values.help) return { kind: 'help' };
  if (!values.nginx) return { kind: 'error', message: 'the following arguments are required: --nginx DIR' };
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port < 1 || port > 65535)
      return { kind: 'error', message: `argument --port/-p: invalid port: '${values.port}'` };
  }
  const serverName = values['server-name'];
  if (serverName !== undefined && !/^[A-Za-z0-9.*_~-]+( [A-Za-z0-9.*_~-]+)*$/.test(serverName))
    return { kind: 'error', message: `argument --server-name: not a server name: '${serverName}'` };
  const logLevel = parsePythonLogLevel(values.log ?? 'INFO');
  if (!logLevel) return { kind: 'error', message: `argument --log/-l: unknown level '${values.log}'` };
  return {
    kind: 'export',
    options: {
      nginx: resolve(cwd, values.nginx),
      catalog: resolve(cwd, values.catalog ?? cwd),
      port,
      serverName,
      logLevel,
      answerNotModified: !values['no-304'],
    },
  };
}

/** Runs `export`; returns the exit code. */
export async function runExport(argv: readonly string[], version: string): Promise<number> {
  const command = parseExport(argv, process.cwd());
  if (command.kind === 'help') {
    process.stdout.write(exportUsage);
    return 0;
  }
  if (command.kind === 'error') {
    process.stderr.write(
      `${exportUsage.split('\n\n')[0]}\nautoconnect-update-server export: error: ${command.message}\n`,
    );
    return 2;
  }
  const options = command.options;
  const logger = stderrLogger(options.logLevel);
  try {
    const result = await exportCatalogForNginx({
      catalogDir: options.catalog,
      dir: options.nginx,
      port: options.port,
      serverName: options.serverName,
      answerNotModified: options.answerNotModified,
      generator: `autoconnect-update-server ${version}`,
      logger,
    });
    process.stdout.write(
      [
        `exported ${result.images} image(s) in ${result.folders} folder(s) to ${result.dir} (export #${result.generation})`,
        `run it:     nginx -p ${result.dir} -c nginx.conf`,
        `reload it:  nginx -p ${result.dir} -c nginx.conf -s reload`,
        `or include ${result.dir}/server.conf in your nginx's http {} block (devices use port ${result.port}); see README.txt`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (error) {
    process.stderr.write(`autoconnect-update-server export: error: ${errorMessage(error)}\n`);
    return 1;
  }
}
