// tapesync for VS Code: starts `tapesync lsp` (the language server built into the tapesync
// binary) for .ttidef files. Plain JavaScript on purpose: no build step, only the
// vscode-languageclient dependency (`npm install` in this folder).
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function serverOptions(config) {
  const command = config.get('path', 'tapesync');
  const args = ['lsp', '--debounce-ms', String(config.get('debounceMs', 200))];
  // TransportKind.stdio makes the client add `--stdio`, which `tapesync lsp` accepts.
  return { command, args, transport: TransportKind.stdio };
}

function clientOptions(config) {
  return {
    documentSelector: [
      { scheme: 'file', language: 'ttidef' },
      { scheme: 'untitled', language: 'ttidef' },
    ],
    initializationOptions: { compat: config.get('compat', false) },
  };
}

async function start() {
  const config = vscode.workspace.getConfiguration('tapesync');
  client = new LanguageClient('tapesync', 'tapesync', serverOptions(config), clientOptions(config));
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `tapesync: cannot start "${config.get('path', 'tapesync')} lsp" (${err.message}). ` +
        'Install tapesync or set "tapesync.path".'
    );
  }
}

async function activate(context) {
  await start();
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('tapesync')) {
        if (client) {
          await client.stop();
        }
        await start();
      }
    })
  );
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
