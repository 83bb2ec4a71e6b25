// `npm run test:electron`: the integration tests under @vscode/test-cli, which downloads
// VS Code desktop (so it needs the network). The same files run in code-server, offline,
// with `npm run test:integration`.
import { defineConfig } from '@vscode/test-cli';

export default defineConfig({
  label: 'integration',
  // The top-level tests only: installed/ needs an installed VSIX and afterReload/ a reload,
  // which only the code-server runner provides (reload.test.js says so and fails here).
  files: 'dist-test/integration/*.test.js',
  // The release code-server 4.100.3 bundles, so both runs see the same VS Code.
  version: '1.100.3',
  // Unlike the code-server runner, this opens the folder itself, not a copy: tests must
  // leave its files unsaved or restore them.
  workspaceFolder: 'test/integration/workspace',
  launchArgs: ['--disable-extensions', '--disable-workspace-trust'],
  mocha: { ui: 'tdd', timeout: 60_000, color: true },
});
