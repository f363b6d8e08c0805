// An Arduino sketch: a folder holding <folder>.ino. arduino-cli `compile -e` and IDE 2 "Export Compiled Binary" write
// <sketch>/build/<fqbn with dots>/<sketch>.ino.bin; IDE 1.x exports <sketch>.ino.<variant>.bin next to the .ino.

import * as path from 'node:path';
import { relativeParts, type BuildTarget, type Discovery } from '../buildOutputs';
import type { BuildSystem } from './buildSystem';

/** IDE 1.x / arduino-cli `<sketch>.ino.<x>.bin` files that are known not to be app images (peers.md §3.6). */
const NON_APP_SUFFIXES = new Set([
  'bootloader',
  'partitions',
  'merged',
  'factory',
  'with_bootloader',
  'littlefs',
  'spiffs',
]);

export const arduinoSketch: BuildSystem = {
  id: 'arduino-cli',
  label: 'Arduino (arduino-cli, IDE 2, IDE 1.x export)',
  // Only the .ino's appearance or removal changes the project set; editing the sketch changes nothing here.
  markers: [{ glob: '*.ino', contentMatters: false }],
  leaf: true,
  tasks: /arduino/i,
  detect: (folder) => folder.entries.some((e) => e.isFile() && e.name === `${path.basename(folder.dir)}.ino`),
  discover: async (folder, context) => discoverSketch(folder.dir, context.found),
};

function discoverSketch(sketchDir: string, d: Discovery): void {
  const sketch = path.basename(sketchDir);
  const exportDir = path.join(sketchDir, 'build');
  const cliTarget = (fqbnDir: string): BuildTarget => ({
    key: `arduino-cli:${sketchDir}#${fqbnDir}`,
    tool: 'arduino-cli',
    project: sketch,
    projectDir: sketchDir,
    board: fqbnFromFolder(fqbnDir),
    file: path.join(exportDir, fqbnDir, `${sketch}.ino.bin`),
  });
  // arduino-cli -e and IDE 2 "Export Compiled Binary": <sketch>/build/<fqbn, ':' → '.'>/<sketch>.ino.bin
  d.locations.push({
    dir: exportDir,
    depth: 1,
    stableDir: sketchDir,
    buildOwned: true,
    description: `arduino-cli export ${exportDir}`,
    resolve(file) {
      const rel = relativeParts(exportDir, file);
      if (!rel || rel.length !== 2) return undefined;
      if (rel[1] === `${sketch}.ino.bin`) return { file, target: cliTarget(rel[0]!), compressed: false };
      if (rel[1] === `${sketch}.ino.bin.gz`) return { file, target: cliTarget(rel[0]!), compressed: true };
      return undefined;
    },
  });
  // IDE 1.x "Export compiled Binary": <sketch>/<sketch>.ino.<variant>.bin next to the .ino
  const prefix = `${sketch}.ino.`;
  d.locations.push({
    dir: sketchDir,
    depth: 0,
    stableDir: sketchDir,
    buildOwned: false,
    description: `arduino IDE 1.x export ${sketchDir}`,
    resolve(file) {
      if (path.dirname(file) !== sketchDir) return undefined;
      const name = path.basename(file);
      if (!name.startsWith(prefix)) return undefined;
      const compressed = name.endsWith('.bin.gz');
      if (!compressed && !name.endsWith('.bin')) return undefined;
      const variant = name.slice(prefix.length, name.length - (compressed ? 7 : 4));
      if (!variant || NON_APP_SUFFIXES.has(variant.toLowerCase())) return undefined;
      const target: BuildTarget = {
        key: `arduino-ide1:${sketchDir}#${variant}`,
        tool: 'arduino-ide1',
        project: sketch,
        projectDir: sketchDir,
        board: variant,
        file: path.join(sketchDir, `${prefix}${variant}.bin`),
      };
      return { file, target, compressed };
    },
  });
}

/** `esp32.esp32.esp32s3` → `esp32:esp32:esp32s3` (vendor and architecture never contain dots; a board id might). */
export function fqbnFromFolder(folder: string): string {
  const parts = folder.split('.');
  return parts.length >= 3 ? `${parts[0]}:${parts[1]}:${parts.slice(2).join('.')}` : folder;
}
