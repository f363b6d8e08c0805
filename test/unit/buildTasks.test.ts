import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isFirmwareBuildTask } from '../../src/core/publish/buildTasks';

describe('build task detection', () => {
  it('takes PlatformIO builds and uploads, and shell tasks running pio or arduino-cli', () => {
    assert.ok(
      isFirmwareBuildTask({ source: 'PlatformIO', name: 'Build', definition: { type: 'PlatformIO', task: 'Build' } }),
    );
    assert.ok(
      isFirmwareBuildTask({
        source: 'PlatformIO',
        name: 'Upload (d1_mini)',
        definition: { type: 'PlatformIO', task: 'Upload' },
      }),
    );
    assert.ok(
      isFirmwareBuildTask({
        source: 'Workspace',
        name: 'compile',
        definition: { type: 'shell', command: 'arduino-cli compile -e --fqbn esp8266:esp8266:d1_mini' },
      }),
    );
    assert.ok(
      isFirmwareBuildTask({
        source: 'Workspace',
        name: 'fw',
        definition: { type: 'shell', command: 'pio', args: ['run', '-e', 'esp32dev'] },
      }),
    );
  });

  it('ignores monitors, cleans, tests and unrelated tasks', () => {
    assert.ok(
      !isFirmwareBuildTask({
        source: 'PlatformIO',
        name: 'Monitor',
        definition: { type: 'PlatformIO', task: 'Monitor' },
      }),
    );
    assert.ok(
      !isFirmwareBuildTask({ source: 'PlatformIO', name: 'Clean', definition: { type: 'PlatformIO', task: 'Clean' } }),
    );
    assert.ok(
      !isFirmwareBuildTask({ source: 'PlatformIO', name: 'Test', definition: { type: 'PlatformIO', task: 'Test' } }),
    );
    assert.ok(
      !isFirmwareBuildTask({ source: 'npm', name: 'build', definition: { type: 'npm', command: 'npm run build' } }),
    );
  });
});
