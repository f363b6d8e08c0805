// Command-line front: `autoconnect-update-server`, a drop-in for AutoConnect's updateserver.py.

import { resolve } from 'node:path';
import {
  ClientFilter,
  ServerStartError,
  UpdateService,
  advertisedAddress,
  defaultNetworkProbe,
  errorMessage,
  generateCatalogKey,
  isCompleteApp,
  networkLabel,
  parseTrustRule,
  reachableAddresses,
  NginxExporter,
  ruleMatches,
  servedNetworks,
  type Logger,
  type TrustRule,
  type UpdateServer,
  wholeTurn,
} from '../core';
import { parseCli, usage, type CliOptions } from './options';
import { stderrLogger } from './logLines';
import { runExport } from './exportCommand';

declare const PACKAGE_VERSION: string | undefined;
const version = typeof PACKAGE_VERSION === 'string' ? PACKAGE_VERSION : 'dev';

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'export') return runExport(argv.slice(1), version);
  const command = parseCli(argv, process.cwd());
  switch (command.kind) {
    case 'help':
      process.stdout.write(usage);
      return 0;
    case 'version':
      process.stdout.write(`autoconnect-update-server ${version}\n`);
      return 0;
    case 'error':
      process.stderr.write(`${usage.split('\n\n')[0]}\nautoconnect-update-server: error: ${command.message}\n`);
      return 2;
    case 'run':
      return run(command.options);
  }
}

async function run(options: CliOptions): Promise<number> {
  const logger = stderrLogger(options.logLevel);
  const key = options.key === 'auto' ? generateCatalogKey() : options.key;
  const service = new UpdateService({ logger });
  service.onDidError((error) => logger.error(`publish: ${error.message}`));
  try {
    await service.update({
      catalogDir: resolve(options.catalog),
      stateFile: options.state,
      keep: options.keep,
      serve: {
        port: options.port,
        host: options.bind,
        allow: options.allow,
        answerNotModified: options.answerNotModified,
        catalogKey: key,
      },
      // One publisher for every --watch folder: it serialises its writes into the catalog.
      publish: options.watch.length > 0 ? { roots: options.watch.map((dir) => resolve(dir)) } : undefined,
    });
  } catch (error) {
    await service.dispose();
    const message = error instanceof ServerStartError ? error.message : errorMessage(error);
    process.stderr.write(`autoconnect-update-server: error: ${message}\n`);
    return 1;
  }

  let exporter: NginxExporter | undefined;
  if (options.exportNginx) {
    exporter = new NginxExporter({
      dir: resolve(options.exportNginx),
      catalog: service.catalog!,
      answerNotModified: options.answerNotModified,
      generator: `autoconnect-update-server ${version}`,
      logger,
    });
    try {
      await exporter.export();
    } catch (error) {
      process.stderr.write(`autoconnect-update-server: error: --export-nginx: ${errorMessage(error)}\n`);
      await service.dispose();
      return 1;
    }
    // After every publish (or file dropped in), once the catalog has settled.
    exporter.keepCurrent(service.onDidChangeCatalog);
    exporter.onDidFail((error) => logger.error(`nginx export: ${error.message}`));
  }

  // The banner and the network check each in a turn of the loop of their own: together with the listen and the first
  // requests they held it for 10-15 ms at start.
  await wholeTurn();
  printBanner(service.server!, options, key);
  await wholeTurn();
  if (!key) await warnOpenNetworks(options, logger);

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        process.stderr.write('forced exit\n');
        process.exit(130);
      }
      stopping = true;
      logger.info(`${signal}: stopping`);
      await exporter?.dispose();
      await service.dispose();
      done(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });
}

/**
 * updateserver.py serves whoever is on the network; so do we without --key (a drop-in), but say so once when the
 * network is one the user did not name with --allow: on a hotel or café Wi-Fi every guest could take the images.
 */
async function warnOpenNetworks(options: CliOptions, logger: Logger): Promise<void> {
  let networks;
  try {
    networks = await defaultNetworkProbe().read();
  } catch {
    return;
  }
  const named = options.allow.map(parseTrustRule).filter((rule): rule is TrustRule => !('error' in rule));
  const open = servedNetworks(networks, options.bind, new ClientFilter(options.allow)).filter(
    (network) => !named.some((rule) => ruleMatches(rule, network)),
  );
  if (open.length === 0) return;
  logger.warn(
    `serving ${open.map(networkLabel).join(', ')} without --key: anyone on ${open.length === 1 ? 'that network' : 'those networks'} ` +
      'can list and download the images, which often hold Wi-Fi passwords (use --key auto, or name a network you trust with --allow)',
  );
}

function printBanner(server: UpdateServer, options: CliOptions, key: string | undefined): void {
  const images = server.catalog.allEntries().filter(isCompleteApp).length;
  const lines = [
    `AutoConnect update server ${version}`,
    `catalog: ${server.catalog.root} (${images} application image${images === 1 ? '' : 's'})`,
    `listening on ${server.host}:${server.port}; devices can reach it at:`,
    ...reachableAddresses(options.bind).map(
      (a) => `  ${a.address}:${server.port}${a.interfaceName ? `  (${a.interfaceName})` : ''}`,
    ),
    ...(key
      ? [
          `catalog key: ${key}${options.key === 'auto' ? ' (generated for this run)' : ''}; only requests below /${key}/ are served`,
        ]
      : []),
    `in the sketch: AutoConnectUpdate update("${advertisedAddress(options.bind)}", ${server.port}${key ? `, "${key}"` : ''});`,
    ...(images === 0
      ? [
          'no application images yet: drop a .bin built for your board into the catalog',
          '  (devices show an empty catalog as "Invalid catalog list:InvalidInput")',
        ]
      : []),
    ...(options.watch.length ? [`publishing builds from: ${options.watch.map((d) => resolve(d)).join(', ')}`] : []),
    ...(options.exportNginx ? [`nginx export kept current in: ${resolve(options.exportNginx)}`] : []),
    'press Ctrl+C to stop',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`autoconnect-update-server: internal error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(70);
  },
);
