// Every command the extension contributes; ids match package.json.

export const enum CommandId {
  StartServer = 'autoconnect.startServer',
  StopServer = 'autoconnect.stopServer',
  RestartServer = 'autoconnect.restartServer',
  CopyAddress = 'autoconnect.copyAddress',
  CopySketchSnippet = 'autoconnect.copySketchSnippet',
  PublishFirmware = 'autoconnect.publishFirmware',
  RemoveFromCatalog = 'autoconnect.removeFromCatalog',
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

export const enum ContextKey {
  Running = 'autoconnect.running',
  CatalogEmpty = 'autoconnect.catalogEmpty',
  NoDevices = 'autoconnect.noDevices',
}
