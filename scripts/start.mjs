// `npm start`: builds the extension and opens it with a sample workspace (a model file, and the
// playground open):
// - in VS Code desktop, in extension development mode, when `code` is on PATH;
// - otherwise in code-server in the browser (installed on first use), printing the URL.
//
// Usage: npm start [-- --code-server] [--port N]
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SWIFTSHADER_ICD, workbenchUrl } from './codeServerBrowser.mjs';
import { startCodeServer } from './installCodeServer.mjs';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const sample = join(root, 'media', 'sample-workspace');

function hasCode() {
  if (process.argv.includes('--code-server')) return false;
  const probe = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['code'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** A scratch copy, so that edits made while trying things do not touch the repository. */
function sampleWorkspace() {
  const dir = mkdtempSync(join(tmpdir(), 'sepconv-start-'));
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace);
  cpSync(sample, workspace, { recursive: true });
  return { dir, workspace };
}

async function main() {
  const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  if (!existsSync(join(sample, 'model.py'))) throw new Error(`the sample workspace is missing: ${sample}`);
  const { dir, workspace } = sampleWorkspace();
  // The extension opens the playground at activation when this is set (development runs only).
  const env = { ...process.env, SEPCONV_OPEN_PLAYGROUND: '1' };

  if (hasCode()) {
    console.log(`opening VS Code with the extension under development and ${workspace}`);
    const child = spawn('code', ['--extensionDevelopmentPath', root, '--new-window', workspace, join(workspace, 'model.py')], { env, stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    return;
  }

  const portArg = process.argv.indexOf('--port');
  const server = await startCodeServer({
    port: portArg >= 0 ? Number(process.argv[portArg + 1]) : undefined,
    userDataDir: join(dir, 'user-data'),
    extensionsDir: join(dir, 'extensions'),
    env: { ...env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD },
    onOutput: (text) => process.env.SEPCONV_VERBOSE && process.stderr.write(text),
  });
  const url = workbenchUrl(server, workspace, [
    ['extensionDevelopmentPath', root],
    ['openFile', join(workspace, 'model.py')],
  ]);
  console.log(`\nSepConv Lab is running in code-server. Open this URL in a browser:\n\n  ${url}\n\nPress Ctrl-C to stop.`);
  const stop = async () => {
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
