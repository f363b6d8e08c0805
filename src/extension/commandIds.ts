// Every command the extension contributes; ids match package.json.

export const enum CommandId {
  StartServer = 'autoconnect.startServer',
  StopServer = 'autoconnect.stopServer',
  RestartServer = 'autoconnect.restartServer',
  CopyAddress = 'autoconnect.copyAddress',
  CopySketchSnippet = 'autoconnect.copySketchSnippet',
  PublishFirmware = 'autoconnect.publishFirmware',
  RemoveFromCatalog = 'autoconnect.removeFromCatalog',
  RollBack = 'autoconnect.rollBack',
  OpenCatalogFolder = 'autoconnect.openCatalogFolder',
  SelectNetworkAddress = 'autoconnect.selectNetworkAddress',
  ShowLog = 'autoconnect.showLog',
  CopyDownloadUrl = 'autoconnect.copyDownloadUrl',
  RevealEntry = 'autoconnect.revealEntry',
  ClearDevices = 'autoconnect.clearDevices',
  RenameDevice = 'autoconnect.renameDevice',
  HoldUpdates = 'autoconnect.holdUpdates',
  ReleaseUpdates = 'autoconnect.releaseUpdates',
  ForgetDevice = 'autoconnect.forgetDevice',
  CopyUpdateLoopSnippet = 'autoconnect.copyUpdateLoopSnippet',
  ExportNginx = 'autoconnect.exportNginx',
  ForgetTrustedNetworks = 'autoconnect.forgetTrustedNetworks',
}

/**
 * Commands that act on the Firmware Catalog row they are invoked on and mean nothing without it: they are offered on
 * the row (view/item/context) and hidden from the Command Palette (`"when": "false"` in package.json), and called
 * without a row (a keybinding) they say where they work. Every other command works from the palette (those with a
 * target, a device or an entry, ask for it).
 */
export const RowCommands: readonly string[] = [
  CommandId.CopyDownloadUrl,
  CommandId.RevealEntry,
  CommandId.RemoveFromCatalog,
  CommandId.RollBack,
];

export const enum ContextKey {
  Running = 'autoconnect.running',
  CatalogEmpty = 'autoconnect.catalogEmpty',
  NoDevices = 'autoconnect.noDevices',
}
