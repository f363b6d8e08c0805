// The build systems the core knows, in the order a folder is asked (a vscode-arduino workspace may also be a
// PlatformIO project; a PlatformIO project wins over a sketch folder of the same name). Everything that needs to know
// which files make a firmware project asks here.

import * as path from 'node:path';
import picomatch from 'picomatch';
import type { BuildSystem, ProjectMarker } from './buildSystem';
import { GLOB_OPTIONS } from '../buildOutputs';
import { arduinoSketch } from './arduinoSketch';
import { platformio } from './platformio';
import { vscodeArduino } from './vscodeArduino';

export const buildSystems: readonly BuildSystem[] = [vscodeArduino, platformio, arduinoSketch];

const markers: readonly ProjectMarker[] = buildSystems.flatMap((system) => system.markers);
const matchers = markers.map((marker) => ({
  marker,
  segments: marker.glob.split('/').length,
  test: picomatch(marker.glob, GLOB_OPTIONS),
}));

/** The marker globs of every build system (`platformio.ini`, `*.ino`, `.vscode/arduino.json`). */
export function projectMarkerGlobs(): string[] {
  return [...new Set(markers.map((m) => m.glob))];
}

/** One workspace glob for all project files: `**\/{platformio.ini,*.ino,.vscode/arduino.json}`. */
export function projectFilesGlob(): string {
  const globs = projectMarkerGlobs();
  return globs.length === 1 ? `**/${globs[0]}` : `**/{${globs.join(',')}}`;
}

/** The extension's `activationEvents`: it has work where a project of a known build system is. */
export function activationEvents(): string[] {
  return projectMarkerGlobs().map((glob) => `workspaceContains:**/${glob}`);
}

/** The marker a file is, judged by its last path segments (`…/.vscode/arduino.json`), or undefined. */
export function projectMarkerOf(file: string): ProjectMarker | undefined {
  const parts = file.split(/[\\/]/).filter(Boolean);
  return matchers.find((m) => parts.length >= m.segments && m.test(parts.slice(-m.segments).join('/')))?.marker;
}

/**
 * Hidden folders that hold markers (`.vscode`): the walk and the watcher skip hidden folders but these, and inside
 * them only the markers matter.
 */
export function markerFolders(): ReadonlySet<string> {
  return new Set(markers.filter((m) => m.glob.includes('/')).map((m) => m.glob.split('/')[0]!));
}

/** Whether a task's words name a known build system. */
export function namesBuildSystem(text: string): boolean {
  return buildSystems.some((system) => system.tasks.test(text));
}

/** Shorthand for the watcher: a path's name is a marker folder. */
export function isMarkerFolder(dir: string): boolean {
  return markerFolders().has(path.basename(dir));
}
