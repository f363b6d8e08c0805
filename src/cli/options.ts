// Command-line flags: updateserver.py's, flag for flag, plus our own. Parsing is separate from running so it can
// be tested without starting anything.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { catalogKeyProblem, errorMessage, parseCidr, parsePythonLogLevel, type LogLevel } from '../core';

export interface CliOptions {
  port: number;
  bind: string;
  catalog: string;
  logLevel: LogLevel;
  allow: string[];
  watch: string[];
  keep: number;
  answerNotModified: boolean;
  /** Keep an nginx export of the catalog current in this folder. */
  exportNginx?: string;
  /** Catalog key, or 'auto' for one generated at start. */
  key?: string;
  /** Device state file; beside the catalog when not given. */
  state?: string;
}

export type CliCommand =
  { kind: 'run'; options: CliOptions } | { kind: 'help' } | { kind: 'version' } | { kind: 'error'; message: string };

export const usage = `usage: autoconnect-update-server [-h] [--port PORT] [--bind IP_ADDRESS] [--catalog CATALOG] [--log LOG_LEVEL]
                                 [--allow CIDR] [--key KEY|auto] [--watch DIR] [--keep N] [--no-304] [--export-nginx DIR]
                                 [--state FILE] [--version]
       autoconnect-update-server export --nginx DIR [--catalog CATALOG] [--port PORT] [--server-name NAME]

OTA update server for AutoConnect devices (ESP8266/ESP32); a drop-in for AutoConnect's updateserver.py.

options:
  -h, --help            show this help message and exit
  -p, --port PORT       port to listen on (default: 8000)
  -b, --bind IP_ADDRESS address to bind (default: all interfaces)
  -d, --catalog CATALOG folder holding the firmware images (default: the current folder)
  -l, --log LOG_LEVEL   DEBUG, INFO, WARNING, ERROR or CRITICAL (default: INFO)
  --allow CIDR          also serve clients in this range (repeatable); loopback, private,
                        link-local and unique-local addresses are always served, others refused
  --key KEY|auto        serve the catalog only below the folder KEY (8-64 letters, digits, - and _; auto
                        generates one and prints it); devices pass it as AutoConnectUpdate's third argument:
                        AutoConnectUpdate update(host, port, "KEY"). Every other request gets 404
  --watch DIR           publish PlatformIO / Arduino builds found under DIR into the catalog (repeatable)
  --keep N              with --watch: previous builds kept per project for rollback (default: 3)
  --no-304              always send the image, even to a device that already runs it
  --export-nginx DIR    keep an nginx export of the catalog in DIR current after every change
                        (see: autoconnect-update-server export --help)
  --state FILE          where the boards seen and their updates are remembered
                        (default: .autoconnect-devices.json in the catalog folder)
  -V, --version         print the version and exit
`;

export function parseCli(argv: readonly string[], cwd: string): CliCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
        port: { type: 'string', short: 'p' },
        bind: { type: 'string', short: 'b' },
        catalog: { type: 'string', short: 'd' },
        log: { type: 'string', short: 'l' },
        allow: { type: 'string', multiple: true },
        key: { type: 'string' },
        watch: { type: 'string', multiple: true },
        keep: { type: 'string' },
        'no-304': { type: 'boolean' },
        'export-nginx': { type: 'string' },
        state: { type: 'string' },
      },
    });
  } catch (error) {
    return { kind: 'error', message: errorMessage(error) };
  }
  const values = parsed.values;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const port = values.port === undefined ? 8000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !/^\d+$/.test(values.port ?? '8000')) {
    return { kind: 'error', message: `argument --port/-p: invalid port: '${values.port}'` };
  }
  const logLevel = parsePythonLogLevel(values.log ?? 'INFO');
  if (!logLevel)
    return {
      kind: 'error',
      message: `argument --log/-l: unknown level '${values.log}' (DEBUG, INFO, WARNING, ERROR, CRITICAL)`,
    };
  const allow = values.allow ?? [];
  const badCidr = allow.find((cidr) => !parseCidr(cidr));
  if (badCidr !== undefined) return { kind: 'error', message: `argument --allow: not a CIDR range: '${badCidr}'` };
  const key = values.key;
  const keyProblem = key === undefined || key === 'auto' ? undefined : catalogKeyProblem(key);
  if (keyProblem) return { kind: 'error', message: `argument --key: ${keyProblem} (or auto)` };
  // The nginx export serves the catalog folder as it is: with a key it would hand out what the key protects.
  if (key !== undefined && values['export-nginx'] !== undefined)
    return {
      kind: 'error',
      message: 'argument --key: not supported with --export-nginx (the export has no key folder)',
    };
  const keep = values.keep === undefined ? 3 : Number(values.keep);
  if (!Number.isInteger(keep) || keep < 0)
    return { kind: 'error', message: `argument --keep: not a count: '${values.keep}'` };

  return {
    kind: 'run',
    options: {
      port,
      bind: values.bind ?? '0.0.0.0',
      catalog: values.catalog ?? cwd,
      logLevel,
      allow,
      watch: values.watch ?? [],
      keep,
      answerNotModified: !values['no-304'],
      ...(values['export-nginx'] !== undefined ? { exportNginx: values['export-nginx'] } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(values.state ? { state: resolve(cwd, values.state) } : {}),
    },
  };
}
