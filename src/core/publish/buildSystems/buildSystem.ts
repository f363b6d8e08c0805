// What the core knows about one build system, in one object: the files that mark its projects, whether a project of
// it may hold others, how its build tasks look, and how to read a project's configuration into the places its outputs
// land. Discovery, the watcher's filter, the workspace check, build-task detection and the extension's activation all
// read these objects through the registry (registry.ts); adding a build system is adding one file there.

import type { Dirent } from 'node:fs';
import type { Discovery } from '../buildOutputs';

/** A file that marks a project folder. */
export interface ProjectMarker {
  /**
   * Path below the project folder, posix separators; `*` in the last segment (`*.ino`). Used as a workspace glob
   * (`**\/<glob>`) for activation and as the watcher's filter for project files.
   */
  glob: string;
  /** Whether an edit of the file (not only its appearance or removal) may move the outputs. */
  contentMatters: boolean;
}

/** A folder met by the walk, with its directory entries. */
export interface ProjectFolder {
  dir: string;
  entries: readonly Dirent[];
  names: ReadonlySet<string>;
}

export interface DiscoveryContext {
  /** For PLATFORMIO_BUILD_DIR, `${sysenv.X}` and the like. */
  env: NodeJS.ProcessEnv;
  /** Where a build system adds its targets, output locations, config files and warnings. */
  found: Discovery;
}

export interface BuildSystem {
  id: string;
  /** For people: logs and docs. */
  label: string;
  markers: readonly ProjectMarker[];
  /** A project of this system holds no other project: the walk does not descend into it. */
  leaf: boolean;
  /** What a build task of this system says in its type, name or command (`pio run`, `arduino-cli compile`). */
  tasks: RegExp;
  /** Whether the folder is a project of this system (its marker is there and is what it claims to be). */
  detect(folder: ProjectFolder): boolean | Promise<boolean>;
  /** Reads the project's configuration: its targets, the folders their outputs land in, the files it read. */
  discover(folder: ProjectFolder, context: DiscoveryContext): Promise<void>;
}
