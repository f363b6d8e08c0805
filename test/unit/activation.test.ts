// The extension activates where it has work: the project files of the core's build systems (and, implicitly since
// VS Code 1.74, its own views and commands), not in every window at start-up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { activationEvents, buildSystems, projectFilesGlob } from '../../src/core';
import { isFirmwareBuildTask } from '../../src/core/publish/buildTasks';
import { projectMarkerOf } from '../../src/core/publish/buildSystems/registry';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));

describe('activation and the build-system registry', () => {
  it('package.json activates on exactly the markers of the registry, and not on start-up', () => {
    assert.deepEqual([...manifest.activationEvents].sort(), activationEvents().sort());
    assert.ok(!manifest.activationEvents.includes('*') && !manifest.activationEvents.includes('onStartupFinished'));
  });

  it('every build system has a marker, and the workspace glob covers each', () => {
    assert.ok(buildSystems.length >= 3);
    for (const system of buildSystems) assert.ok(system.markers.length > 0, system.id);
    assert.equal(projectFilesGlob(), '**/{.vscode/arduino.json,platformio.ini,*.ino}');
  });

  it('tells project files by their last path segments', () => {
    assert.equal(projectMarkerOf('/w/blinky/platformio.ini')?.glob, 'platformio.ini');
    assert.equal(projectMarkerOf('/w/Blink/Blink.ino')?.contentMatters, false);
    assert.equal(projectMarkerOf('/w/.vscode/arduino.json')?.glob, '.vscode/arduino.json');
    assert.equal(projectMarkerOf('/w/arduino.json'), undefined);
    assert.equal(projectMarkerOf('/w/platformio.ini.bak'), undefined);
  });

  it('a build task is one whose words name a build system of the registry', () => {
    assert.ok(
      isFirmwareBuildTask({ source: 'Workspace', name: 'b', definition: { type: 'shell', command: 'pio run' } }),
    );
    assert.ok(!isFirmwareBuildTask({ source: 'Workspace', name: 'b', definition: { type: 'shell', command: 'make' } }));
  });
});
