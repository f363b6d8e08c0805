// The vscode-arduino extension: .vscode/arduino.json names the sketch, the board and (optionally) the "output"
// folder it builds into. Without "output" it builds into a temporary folder nobody can know.

import { readConfigFile } from '../../readBounded';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { expandHome, type BuildTarget, type Discovery } from '../buildOutputs';
import type { BuildSystem } from './buildSystem';

export const vscodeArduino: BuildSystem = {
  id: 'vscode-arduino',
  label: 'vscode-arduino',
  markers: [{ glob: '.vscode/arduino.json', contentMatters: true }],
  // A workspace with arduino.json may hold sketches and PlatformIO projects below it too.
  leaf: false,
  tasks: /arduino/i,
  detect: async (folder) =>
    folder.names.has('.vscode') &&
    ((await fs.stat(path.join(folder.dir, '.vscode', 'arduino.json')).catch(() => undefined))?.isFile() ?? false),
  discover: (folder, context) => discoverVscodeArduino(folder.dir, context.found),
};

async function discoverVscodeArduino(workspaceDir: string, d: Discovery): Promise<void> {
  const settingsPath = path.join(workspaceDir, '.vscode', 'arduino.json');
  let text: string;
  try {
    text = await readConfigFile(settingsPath);
  } catch {
    return; // no vscode-arduino settings here
  }
  d.configFiles.push(settingsPath);
  // JSON with comments and trailing commas, as VS Code writes its settings files: VS Code's own parser reads it.
  const errors: ParseError[] = [];
  const settings: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const first = errors[0]!;
    d.warnings.push(`cannot parse ${settingsPath}: ${printParseErrorCode(first.error)} at offset ${first.offset}`);
    return;
  }
  const { output, sketch, board } = (settings ?? {}) as Record<string, unknown>;
  // Without "output" vscode-arduino builds into a temporary folder we cannot know.
  if (typeof output !== 'string' || output.trim() === '' || typeof sketch !== 'string' || sketch.trim() === '') return;
  const outputDir = path.resolve(workspaceDir, expandHome(output.trim()));
  const sketchName = path.basename(sketch.trim().replace(/\\/g, '/')).replace(/\.(ino|pde)$/i, '');
  const target: BuildTarget = {
    key: `vscode-arduino:${workspaceDir}#${sketchName}`,
    tool: 'vscode-arduino',
    project: sketchName,
    projectDir: workspaceDir,
    file: path.join(outputDir, `${sketchName}.ino.bin`),
  };
  if (typeof board === 'string' && board.trim()) target.board = board.trim();
  d.targets.push(target);
  d.locations.push({
    dir: outputDir,
    depth: 0,
    stableDir: workspaceDir,
    buildOwned: true,
    description: `vscode-arduino ${outputDir} ${sketchName}`,
    resolve(file) {
      if (file === target.file) return { file, target, compressed: false };
      if (file === `${target.file}.gz`) return { file, target, compressed: true };
      return undefined;
    },
  });
}
