#!/usr/bin/env node
// Installs code-server (VS Code in the browser, with a real Node extension host) into a
// cache outside the clone, so a fresh clone on the same machine reuses it, and starts it.
//
//   node scripts/installCodeServer.mjs          install (or reuse) and check that it starts
//   node scripts/installCodeServer.mjs --path   print the install directory only
//
// Imported by the integration runner (ensureCodeServer, startCodeServer).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_SERVER_PACKAGES, ensureDebianPackages } from './systemPackages.mjs';

/** 4.100.x bundles VS Code 1.100.3 and still runs on Node 20; later releases want Node 22. */
export const CODE_SERVER_VERSION = '4.100.3';
/** The @vscode/ripgrep release that code-server's VS Code depends on, and the asset it fetches. */
const RIPGREP_CACHE_DIR = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';
/** Written last, so that an interrupted install is never mistaken for a finished one. */
const COMPLETE_MARKER = '.sepconv-install-complete';

/** Where code-server lives: `$SEPCONV_CODE_SERVER_DIR`, else under the user's cache folder. */
export function codeServerDir() {
  if (process.env.SEPCONV_CODE_SERVER_DIR) return path.resolve(process.env.SEPCONV_CODE_SERVER_DIR);
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheHome, 'sepconv-lab', `code-server-${CODE_SERVER_VERSION}`);
}

/** The script that code-server's own `bin` runs; started with this Node. */
export function codeServerEntry(dir = codeServerDir()) {
  return path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

function log(message) {
  process.stderr.write(`[code-server] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

/**
 * @vscode/ripgrep's postinstall downloads rg from GitHub unless the asset is already in its
 * cache under the temp folder. Seed that cache with the system's rg, packed as the asset is.
 */
function seedRipgrepCache() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  const target = path.join(os.tmpdir(), RIPGREP_CACHE_DIR, RIPGREP_ASSET);
  if (fs.existsSync(target)) return;
  const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
  if (!rg) throw new Error('ripgrep (rg) is not on PATH; install it (Debian: apt-get install ripgrep)');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'sepconv-rg-'));
  try {
    fs.copyFileSync(rg, path.join(staging, 'rg'));
    fs.chmodSync(path.join(staging, 'rg'), 0o755);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    run('tar', ['-czf', `${target}.partial`, '-C', staging, 'rg']);
    fs.renameSync(`${target}.partial`, target);
    log(`seeded ${target} from ${rg}`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Installs code-server into the cache unless a finished install is already there.
 * @returns the install directory
 */
export function ensureCodeServer({ quiet = false } = {}) {
  const dir = codeServerDir();
  if (fs.existsSync(path.join(dir, COMPLETE_MARKER)) && fs.existsSync(codeServerEntry(dir))) {
    if (!quiet) log(`reusing ${dir}`);
    return dir;
  }
  ensureDebianPackages(CODE_SERVER_PACKAGES);
  seedRipgrepCache();

  // Install beside the final folder and rename at the end: a half-finished install never
  // sits where the next run would look for a finished one.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const staging = `${dir}.installing-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify({ name: 'sepconv-code-server-cache', private: true }, null, 2) + '\n');
  log(`installing code-server@${CODE_SERVER_VERSION} into ${dir} (several minutes)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  run(npm, ['install', '--no-audit', '--no-fund', '--foreground-scripts', `code-server@${CODE_SERVER_VERSION}`], {
    cwd: staging,
    env: {
      ...process.env,
      // unsafe_perm: older npm running as root drops privileges for scripts without it
      // (npm 11 no longer knows it and only warns).
      npm_config_unsafe_perm: 'true',
      npm_config_yes: 'true',
      // code-server's postinstall installs VS Code's own modules (native ones included)
      // with nested npm runs; those only work when install scripts run, and npm 11
      // blocks dependency scripts unless told. The env reaches the nested runs too.
      npm_config_ignore_scripts: 'false',
      npm_config_dangerously_allow_all_scripts: 'true',
    },
  });
  if (!fs.existsSync(codeServerEntry(staging))) {
    throw new Error(`npm finished but ${codeServerEntry(staging)} is missing`);
  }
  // --config: otherwise code-server writes a default config into ~/.config.
  const version = spawnSync(process.execPath, [codeServerEntry(staging), '--config', path.join(staging, 'config.yaml'), '--version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    throw new Error(`code-server --version failed:\n${version.stdout}${version.stderr}`);
  }
  log(`installed: ${version.stdout.trim().split('\n').pop()}`);
  fs.writeFileSync(path.join(staging, COMPLETE_MARKER), `${CODE_SERVER_VERSION}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return dir;
}

/**
 * Installs a VSIX into `extensionsDir` with code-server's `--install-extension`, as a user
 * installing the file would, and returns the folder the extension landed in.
 * @param {string} vsix
 * @param {{ extensionsDir: string, userDataDir: string, extensionId: string }} options
 */
export function installExtension(vsix, { extensionsDir, userDataDir, extensionId }) {
  const dir = ensureCodeServer({ quiet: true });
  const result = spawnSync(
    process.execPath,
    [
      codeServerEntry(dir),
      '--config',
      path.join(userDataDir, 'code-server.yaml'),
      '--user-data-dir',
      userDataDir,
      '--extensions-dir',
      extensionsDir,
      '--install-extension',
      path.resolve(vsix),
    ],
    { encoding: 'utf8' },
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.status !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`code-server --install-extension ${vsix} failed (exit ${result.status ?? result.signal}):\n${output}`);
  }
  const prefix = `${extensionId.toLowerCase()}-`;
  const installed = fs.existsSync(extensionsDir) ? fs.readdirSync(extensionsDir).filter((name) => name.toLowerCase().startsWith(prefix)) : [];
  if (installed.length !== 1) {
    throw new Error(`after installing ${vsix}, ${extensionsDir} holds ${installed.length} folders for ${extensionId}: ${installed.join(', ')}`);
  }
  return path.join(extensionsDir, installed[0]);
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts code-server on 127.0.0.1 with no auth, no telemetry and fresh user data and
 * extension folders, and waits until its health endpoint answers.
 * @param {{ port?: number, userDataDir: string, extensionsDir: string, configFile?: string, env?: NodeJS.ProcessEnv,
 *           extraArgs?: string[], onOutput?: (text: string) => void, startTimeoutMs?: number }} options
 * @returns {Promise<{ port: number, url: string, process: import('node:child_process').ChildProcess,
 *           stop: () => Promise<void> }>}
 */
export async function startCodeServer(options) {
  const dir = ensureCodeServer({ quiet: true });
  const port = options.port ?? (await freePort());
  const args = [
    codeServerEntry(dir),
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    // A config of its own: otherwise code-server reads and writes ~/.config/code-server.
    '--config',
    options.configFile ?? path.join(options.userDataDir, 'code-server.yaml'),
    '--user-data-dir',
    options.userDataDir,
    '--extensions-dir',
    options.extensionsDir,
    ...(options.extraArgs ?? []),
  ];
  // detached: its own process group, so stop() ends the extension host and the other
  // children with it.
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  });
  const onOutput = options.onOutput ?? (() => {});
  child.stdout.on('data', (chunk) => onOutput(chunk.toString()));
  child.stderr.on('data', (chunk) => onOutput(chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    // Whatever of the group outlived its parent (an extension host that ignored SIGTERM).
    killGroup(child, 'SIGKILL');
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let exitedEarly = null;
  exited.then((status) => (exitedEarly = status));
  for (;;) {
    if (exitedEarly) throw new Error(`code-server exited before it was ready: ${JSON.stringify(exitedEarly)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url}/healthz in time`);
    }
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { port, url, process: child, stop };
}

function killGroup(child, signal) {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function main() {
  if (process.argv.includes('--path')) {
    process.stdout.write(`${codeServerDir()}\n`);
    return;
  }
  const dir = ensureCodeServer();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sepconv-cs-check-'));
  try {
    const started = Date.now();
    const server = await startCodeServer({
      userDataDir: path.join(scratch, 'user-data'),
      extensionsDir: path.join(scratch, 'extensions'),
    });
    const page = await fetch(`${server.url}/`);
    const html = await page.text();
    await server.stop();
    if (!page.ok || !html.includes('workbench')) {
      throw new Error(`code-server answered ${page.status} without the workbench page`);
    }
    log(`${dir} starts and serves the workbench (${Date.now() - started} ms)`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
