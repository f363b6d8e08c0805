// Which editor tasks build firmware: PlatformIO's own tasks, and shell tasks that run pio or arduino-cli.

export interface TaskDescription {
  source: string;
  name: string;
  definition: { type?: string; task?: string; command?: string; args?: unknown };
}

const BUILDER = /platformio|\bpio\b|arduino/i;
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
  if (!BUILDER.test(text)) return false;
  return !NOT_A_BUILD.test(`${task.name} ${definition.task ?? ''}`);
}
