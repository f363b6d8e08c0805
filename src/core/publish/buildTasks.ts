// Which editor tasks build firmware: a task whose words name a known build system (its own task type, or a shell task
// running pio or arduino-cli), unless it is one that produces no image.

import { namesBuildSystem } from './buildSystems/registry';

export interface TaskDescription {
  source: string;
  name: string;
  definition: { type?: string; task?: string; command?: string; args?: unknown };
}

// Monitors, cleans, tests and checks produce no image; uploads build first, so they count.
const NOT_A_BUILD = /\b(clean|monitor|test|check|menuconfig|erase|remote)\b/i;

export function isFirmwareBuildTask(task: TaskDescription): boolean {
  const { definition } = task;
  const text = [
    task.source,
    task.name,
    definition.type,
    definition.task,
    definition.command,
    JSON.stringify(definition.args ?? ''),
  ].join(' ');
  if (!namesBuildSystem(text)) return false;
  return !NOT_A_BUILD.test(`${task.name} ${definition.task ?? ''}`);
}
