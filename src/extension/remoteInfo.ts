// Where the server really runs. In a remote, WSL or container window the extension host (and so the server) is on
// the remote side: devices must reach that machine, not the one showing the editor.

import * as vscode from 'vscode';
import { hostname } from 'node:os';

export function remoteNote(): string | undefined {
  const remote = vscode.env.remoteName;
  if (!remote) return undefined;
  switch (remote) {
    case 'wsl':
      return `The server runs inside WSL (${hostname()}). WSL 2 sits behind NAT: devices on the LAN reach it only through a port proxy on Windows (netsh interface portproxy) or mirrored networking.`;
    case 'dev-container':
    case 'attached-container':
      return `The server runs inside a container (${hostname()}). Publish the port to the host (e.g. "forwardPorts" is not enough: use "appPort" or docker -p 8000:8000) and give devices the host's LAN address.`;
    case 'codespaces':
      return 'The server runs in a Codespace in the cloud; devices on your LAN cannot reach it. Run it in a local window instead.';
    case 'ssh-remote':
      return `The server runs on the SSH host ${hostname()}; devices must be able to reach that machine's address.`;
    default:
      return `The server runs on the remote host ${hostname()} (${remote}); devices must reach that machine.`;
  }
}
