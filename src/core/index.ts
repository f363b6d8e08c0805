// The public face of the core: everything the fronts (src/extension, src/cli) may use. A front imports from here and
// nowhere else in src/core (an ESLint rule says so); what is not exported here is the core's own business.

// Composition
export {
  UpdateService,
  type UpdateServiceOptions,
  type ServeOptions,
  type WatchBuildsOptions,
  type PublishFileResult,
} from './updateService';
export { UpdateServer, ServerStartError, type UpdateServerOptions, type ServerErrorCode } from './updateServer';
export { wholeTurn } from './work/loopTurn';
export type {
  RequestSummary,
  CatalogServedEvent,
  RefusedEvent,
  DownloadStartedEvent,
  DownloadProgressEvent,
  DownloadFinishedEvent,
} from './serverEvents';

// Catalog
export type { Catalog, CatalogBuild, CatalogPublishResult, CatalogRollBackResult } from './catalog/catalog';
export type { KeptBuild } from './catalog/keptBuilds';
export type { CatalogStore, CatalogChange } from './catalog/catalogStore';
export type { ImageAnalysis, FileVersion } from './catalog/imageStore';
export { type CatalogEntry, isCompleteApp } from './catalog/catalogEntry';
export { buildListing, notOfferedReason, type Audience, type Listing } from './catalog/listing';
export type { Origin } from './catalog/origins';

// Export for nginx
export {
  NginxExporter,
  NginxExportError,
  exportCatalogForNginx,
  type NginxExportOptions,
  type NginxExportResult,
  type ExportSource,
} from './export/nginxExport';

// Firmware
export type { ImageInfo, ChipFamily, AppDescriptor } from './firmware/imageInfo';
export { CHIPS, chipDisplayName, type Chip } from './firmware/chips';

// Publishing
export type { PublishEvent, SkipEvent, PublishErrorEvent } from './publish/buildPublisher';
export type { BuildTarget, BuildTool } from './publish/discover';
export { isFirmwareBuildTask, type TaskDescription } from './publish/buildTasks';
export { activationEvents, buildSystems, projectFilesGlob } from './publish/buildSystems/registry';
export type { BuildSystem, ProjectMarker } from './publish/buildSystems/buildSystem';

// Devices
export type { DeviceRegistry, DeviceRecord, UpdateRecord, UpdateOutcome } from './devices/deviceRegistry';
export type { DeviceInventory } from './devices/deviceInventory';
export type { StoredRunning } from './devices/deviceState';
export { formatAgo, formatBytes, formatDuration, formatRate, formatRateOf } from './units';
export type { DeviceIdentity } from './devices/deviceRequest';
export { KnownImages, type KnownImage } from './devices/knownImages';

// Access: the catalog key
export { catalogKeyProblem, generateCatalogKey, maskKey } from './access/catalogKey';

// Network, logging, events
export {
  advertisedAddress,
  ClientFilter,
  lanAddresses,
  parseCidr,
  reachableAddresses,
  type InterfaceAddress,
} from './net/addresses';
export {
  defaultNetworkProbe,
  networkLabel,
  preferredAddress,
  sameNetwork,
  systemNetworkProbe,
  type NetworkIdentity,
  type NetworkProbe,
} from './net/networkIdentity';
export {
  isLoopback,
  NetworkTrust,
  parseTrustRule,
  ruleMatches,
  servedNetworks,
  type KeyValueStore,
  type TrustChoice,
  type TrustRecord,
  type TrustRule,
  type TrustVerdict,
} from './net/networkTrust';
export { NetworkMonitor, type NetworkChange } from './net/networkMonitor';
export { levelLogger, parsePythonLogLevel, silentLogger, type Logger, type LogLevel } from './log';
export { Emitter, DisposableStore, serialQueue, type Disposable, type Event } from './events';
export { errorMessage } from './errorMessage';
