// Where the server really runs. In a remote, WSL, container or browser (code-server) window the extension host, and
// so the server, is on the remote side: devices must reach that machine, not the one showing the editor, and never
// the address the editor itself connects to (vscode.env.remoteName is that connection, e.g. "127.0.0.1:8080").

import * as vscode from 'vscode';
import { hostname } from 'node:os';

/**
 * What to tell the user about where devices connect in a remote window, or undefined in a local one. `devices` is
 * the host:port devices use (the server's LAN address and port), when the server runs.
 */
export function remoteNote(devices?: string): string | undefined {
  const remote = vscode.env.remoteName;
  if (!remote) return undefined;
  const host = hostname();
  const where = `Devices connect to ${host}, the machine the extension runs on${devices ? `, at ${devices}` : ''}`;
  switch (remote) {
    case 'wsl':
      return `The Update Server runs inside WSL. ${where}. WSL 2 sits behind NAT: devices on the LAN reach it only through a port proxy on Windows (netsh interface portproxy) or mirrored networking.`;
    case 'dev-container':
    case 'attached-container':
      return `The Update Server runs inside a container. ${where} only if the port is published to the host ("forwardPorts" is not enough: use "appPort" or docker -p 8000:8000); then give devices the host's LAN address.`;
    case 'codespaces':
      return 'The Update Server runs in a Codespace in the cloud; devices on your LAN cannot reach it. Run it in a local window instead.';
    default:
      // ssh-remote, tunnel, code-server in a browser, …: the editor's own connection says nothing about the devices.
      return `This window is remote. ${where}, not to the computer showing the editor.`;
  }
}
