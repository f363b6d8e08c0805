// platformio.ini as PlatformIO reads it: Python configparser sections, its `${...}` interpolation and the build_dir
// precedence. Ours rather than a library's, because the interpolation rules are PlatformIO's own; small and tested.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { expandHome, GLOB_OPTIONS } from '../buildOutputs';

/** build_dir with PlatformIO's precedence: env var, then [platformio] option, then `<workspace_dir>/build`. */
export function platformioBuildDir(
  projectDir: string,
  config: IniConfig,
  env: NodeJS.ProcessEnv,
  warnings: string[] = [],
): string {
  const option = (key: string): string | undefined => {
    const value = config.get('platformio')?.get(key);
    if (value === undefined || value.trim() === '') return undefined;
    const resolved = interpolate(value.trim(), projectDir, config, env, effective);
    if (resolved === undefined) {
      warnings.push(
        `${path.join(projectDir, 'platformio.ini')}: cannot resolve ${key} = ${value.trim()}, using the default`,
      );
    }
    return resolved;
  };
  const absolute = (value: string) => path.resolve(projectDir, expandHome(value));
  const resolving = new Set<string>();
  // The values PlatformIO would use, so that ${platformio.workspace_dir} inside build_dir resolves to the real one.
  const effective = (key: string): string | undefined => {
    if (resolving.has(key)) return undefined; // a self reference: unresolvable, the caller falls back to the default
    resolving.add(key);
    try {
      return effectiveValue(key);
    } finally {
      resolving.delete(key);
    }
  };
  const effectiveValue = (key: string): string | undefined => {
    if (key === 'workspace_dir') {
      const fromEnv = env['PLATFORMIO_WORKSPACE_DIR'];
      if (fromEnv) return absolute(fromEnv);
      const fromIni = option('workspace_dir');
      return absolute(fromIni ?? '.pio');
    }
    if (key === 'build_dir') {
      const fromEnv = env['PLATFORMIO_BUILD_DIR'];
      if (fromEnv) return absolute(fromEnv);
      const fromIni = option('build_dir');
      return fromIni !== undefined ? absolute(fromIni) : path.join(effective('workspace_dir')!, 'build');
    }
    return undefined;
  };
  return effective('build_dir')!;
}

export type IniConfig = Map<string, Map<string, string>>;

/** Python configparser as PlatformIO uses it: `[section]`, `key = value`, indented continuation lines, `;`/`#` comments. */
export function parseIni(text: string): IniConfig {
  const config: IniConfig = new Map();
  let section: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*[;#]/.test(raw) || raw.trim() === '') {
      if (raw.trim() === '') lastKey = undefined;
      continue;
    }
    const line = raw.replace(/\s+[;#].*$/, '');
    if (/^\s/.test(line) && section && lastKey) {
      section.set(lastKey, `${section.get(lastKey)}\n${line.trim()}`);
      continue;
    }
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      section = config.get(name) ?? new Map();
      config.set(name, section);
      lastKey = undefined;
      continue;
    }
    const kv = /^\s*([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (kv && section) {
      lastKey = kv[1]!.toLowerCase();
      section.set(lastKey, kv[2]!.trim());
    }
  }
  return config;
}

/**
 * `${PROJECT_DIR}`, `$PROJECT_DIR`, `${sysenv.NAME}`, `${platformio.workspace_dir}` (effective value) and
 * `${section.key}`. Returns undefined when something cannot be resolved, so the caller falls back to the default
 * instead of watching a folder literally named `${...}`.
 */
function interpolate(
  value: string,
  projectDir: string,
  config: IniConfig,
  env: NodeJS.ProcessEnv,
  effective: (key: string) => string | undefined,
  depth = 0,
): string | undefined {
  if (depth > 8) return undefined;
  let failed = false;
  const out = value
    .replace(/\$\{PROJECT_DIR\}|\$PROJECT_DIR\b/g, () => projectDir)
    .replace(/\$\{([^}]+)\}/g, (_, ref: string) => {
      const dot = ref.indexOf('.');
      const section = dot > 0 ? ref.slice(0, dot) : '';
      const key = dot > 0 ? ref.slice(dot + 1) : ref;
      let resolved: string | undefined;
      if (section === 'sysenv') resolved = env[key];
      else if (section === 'platformio' && (key === 'workspace_dir' || key === 'build_dir')) resolved = effective(key);
      else if (section) {
        const raw = config.get(section)?.get(key.toLowerCase());
        if (raw !== undefined) resolved = interpolate(raw, projectDir, config, env, effective, depth + 1);
      }
      if (resolved === undefined) failed = true;
      return resolved ?? '';
    });
  return failed ? undefined : out;
}

export async function extraConfigFiles(projectDir: string, config: IniConfig): Promise<string[]> {
  const raw = config.get('platformio')?.get('extra_configs');
  if (!raw) return [];
  const files: string[] = [];
  for (const item of raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const full = path.resolve(projectDir, expandHome(item));
    if (!/[*?[{]/.test(path.basename(full))) {
      files.push(full);
      continue;
    }
    const matcher = picomatch(path.basename(full), GLOB_OPTIONS);
    try {
      for (const name of (await fs.readdir(path.dirname(full))).sort()) {
        if (matcher(name)) files.push(path.join(path.dirname(full), name));
      }
    } catch {
      // an extra_configs glob over a missing folder matches nothing, as in PlatformIO
    }
  }
  return files;
}
