// PlatformIO: a folder with platformio.ini. Each [env:NAME] (also from extra_configs) builds into
// <build_dir>/<NAME>/firmware.bin, plus littlefs.bin / spiffs.bin / fatfs.bin from `pio run -t buildfs`.

import { readConfigFile } from '../../readBounded';
import * as path from 'node:path';
import type { FilesystemType } from '../../firmware/imageInfo';
import { errorMessage } from '../../errorMessage';
import { relativeParts, type BuildTarget, type Discovery } from '../buildOutputs';
import type { BuildSystem } from './buildSystem';
import { extraConfigFiles, parseIni, platformioBuildDir, type IniConfig } from './platformioIni';

export const platformio: BuildSystem = {
  id: 'platformio',
  label: 'PlatformIO',
  markers: [{ glob: 'platformio.ini', contentMatters: true }],
  // A PlatformIO project is a leaf: its lib/, src/, .pio/ hold no other projects worth the cost of a walk.
  leaf: true,
  tasks: /platformio|\bpio\b/i,
  detect: (folder) => folder.names.has('platformio.ini'),
  discover: (folder, context) => discoverPlatformIO(folder.dir, context.env, context.found),
};

async function discoverPlatformIO(projectDir: string, env: NodeJS.ProcessEnv, d: Discovery): Promise<void> {
  const iniPath = path.join(projectDir, 'platformio.ini');
  d.configFiles.push(iniPath);
  let config: IniConfig;
  try {
    config = parseIni(await readConfigFile(iniPath));
  } catch (error) {
    d.warnings.push(`cannot read ${iniPath}: ${errorMessage(error)}`);
    return;
  }
  // extra_configs can declare more [env:...] sections; PlatformIO lets the main file win on conflicts.
  for (const extra of await extraConfigFiles(projectDir, config)) {
    d.configFiles.push(extra);
    try {
      const more = parseIni(await readConfigFile(extra));
      for (const [section, values] of more) {
        const mine = config.get(section) ?? new Map<string, string>();
        for (const [k, v] of values) if (!mine.has(k)) mine.set(k, v);
        config.set(section, mine);
      }
    } catch (error) {
      d.warnings.push(`cannot read ${extra}: ${errorMessage(error)}`);
    }
  }

  const buildDir = platformioBuildDir(projectDir, config, env, d.warnings);
  const project = path.basename(projectDir);
  const envs = [...config.keys()]
    .filter((s) => s.startsWith('env:'))
    .map((s) => s.slice(4).trim())
    .filter(Boolean);
  const targets = new Map<string, BuildTarget>();
  for (const name of envs) {
    const target: BuildTarget = {
      key: `platformio:${projectDir}#${name}`,
      tool: 'platformio',
      project,
      projectDir,
      environment: name,
      // PROGNAME defaults to "firmware"; projects that rename it can add a glob.
      file: path.join(buildDir, name, 'firmware.bin'),
    };
    targets.set(name, target);
    d.targets.push(target);
  }
  d.locations.push({
    dir: buildDir,
    depth: 1,
    stableDir: projectDir,
    buildOwned: true,
    description: `platformio ${buildDir} [${envs.join(',')}]`,
    resolve(file) {
      const rel = relativeParts(buildDir, file);
      if (!rel || rel.length !== 2) return undefined;
      const target = targets.get(rel[0]!);
      if (!target) return undefined;
      if (rel[1] === 'firmware.bin') return { file, target, compressed: false };
      if (rel[1] === 'firmware.bin.gz') return { file, target, compressed: true };
      const fs = PLATFORMIO_FILESYSTEM.exec(rel[1]!);
      if (fs) return { file, target, compressed: false, filesystem: fs[1] as FilesystemType };
      return undefined;
    },
  });
}

/** What `pio run -t buildfs` writes next to firmware.bin, by the board's `board_build.filesystem`. */
const PLATFORMIO_FILESYSTEM = /^(littlefs|spiffs|fatfs)\.bin$/;
