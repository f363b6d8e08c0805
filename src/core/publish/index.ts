// Public surface of build publishing, for the VS Code front (tasks hook, commands) and the CLI (--watch).

export { BuildPublisher, nameVariant } from './buildPublisher';
export type { BuildPublisherOptions, PublishEvent, PublishErrorEvent, PublishOutcome, SkipCode, SkipEvent } from './buildPublisher';
export { discover, hasFirmwareProject, outputForFile, resolveOutput, scanLocation } from './discover';
export type { BuildOutput, BuildTarget, BuildTool, Discovery, DiscoveryOptions, OutputLocation } from './discover';
export { baseStem, chooseStem, datedName, sanitizeStem, MAX_ENTRY_NAME_BYTES, MAX_STEM_LENGTH } from './snapshot';
export { readOrigins, writeOrigins, ORIGINS_FILE } from '../catalog/origins';
export type { Origin } from '../catalog/origins';
