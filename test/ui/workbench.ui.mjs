// Sanity scenario: the workbench loads on the fixture folder with the packaged extension installed, and the extension's
// activity-bar container ("AutoConnect") is there and opens the side bar with its views.
export const timeout = 60000;

export async function run({ page, harness, workspace, artifacts, assert, log, helpers, manifest, extensionId }) {
  const { activityBarItems, openView, screenshot, waitFor, resolveViewTitle } = helpers;

  // 1. the workbench shell is up, on the folder we asked for
  assert.ok(await page.locator('.monaco-workbench').isVisible(), 'workbench not visible');
  const folderName = workspace.split('/').pop();
  await waitFor(async () => (await page.title()).includes(folderName), {
    timeout: 15000,
    what: `window title with "${folderName}"`,
  });
  log('title:', await page.title());

  // 2. the packaged extension is installed in this code-server
  const installed = harness.listExtensions();
  assert.ok(
    installed.some((e) => e === `${extensionId}@${manifest.version}`),
    `${extensionId}@${manifest.version} not installed (installed: ${installed.join(', ') || 'none'})`,
  );

  // 3. the activity bar shows the AutoConnect container (contributed by the extension's manifest)
  const containerTitle = resolveViewTitle('autoconnect', manifest);
  const want = containerTitle === 'autoconnect' ? 'AutoConnect' : containerTitle;
  let items = [];
  try {
    await waitFor(
      async () =>
        (items = await activityBarItems(page)).some((i) => i.label === want || i.label.startsWith(`${want} (`)),
      {
        timeout: 20000,
        what: `activity bar entry "${want}"`,
      },
    );
  } catch {
    await screenshot(page, `${artifacts}/no-activity-entry.png`);
    assert.fail(`no "${want}" entry in the activity bar; entries: ${items.map((i) => i.label).join(' | ')}`);
  }

  // 4. clicking it opens the side bar titled after the container, showing its views
  await openView(page, want, { manifest });
  const sideTitle = (await page.locator('#workbench\\.parts\\.sidebar .composite.title h2').first().innerText()).trim();
  log('side bar title:', sideTitle);
  assert.match(sideTitle, new RegExp(want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i'));
  const views = Object.values((manifest.contributes && manifest.contributes.views) || {})
    .flat()
    .filter(Boolean);
  const ours = (
    (manifest.contributes && manifest.contributes.views && manifest.contributes.views.autoconnect) ||
    []
  ).map((v) => v.name);
  log('views in the container:', ours.join(', ') || '(none in the manifest)', `of ${views.length} contributed`);
  for (const name of ours) {
    const pane = await waitFor(() => helpers.findViewPane(page, name), { timeout: 10000, what: `view pane "${name}"` });
    assert.ok(pane, `view "${name}" not shown`);
  }
  await screenshot(page, `${artifacts}/autoconnect-container.png`);
}
