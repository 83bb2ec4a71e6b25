// The Debian packages that the tests and `npm start` need beyond npm's: installed with apt-get
// when this process may (root, or sudo without a password), else named in one clear line.
//
//   node scripts/systemPackages.mjs test      ensure what `npm test` needs (scripts/test.sh runs it)
//   node scripts/systemPackages.mjs --list    print every package, one per line
//
// installCodeServer.mjs imports ensureDebianPackages for code-server's own two.

import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Each package, with the reason it is needed (printed when it is missing). */
export const CODE_SERVER_PACKAGES = {
  'libkrb5-dev': "Kerberos headers for the native module of code-server's VS Code",
  ripgrep: 'rg, which code-server would otherwise download',
};
export const TEST_PACKAGES = {
  ...CODE_SERVER_PACKAGES,
  chromium: 'headless browser for the end-to-end and VS Code tests, and its SwiftShader Vulkan driver for WebGPU without a GPU',
  libvulkan1: 'the Vulkan loader through which Dawn (WebGPU in Node) finds SwiftShader',
  'python3-torch': 'PyTorch 1.13 (and numpy), which checks the generated code and measures model code',
  'python3-torchvision': 'torchvision 0.14, whose models the corpus and the import tests are checked against',
};

function log(message) {
  process.stderr.write(`[system packages] ${message}\n`);
}

function installed(name) {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('install ok installed');
}

/** The command prefix that may run apt-get here: [] as root, ['sudo', '-n'] where sudo needs no password, else undefined. */
function privilege() {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return [];
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? ['sudo', '-n'] : undefined;
}

function apt(prefix, args) {
  const result = spawnSync(prefix[0] ?? 'apt-get', [...prefix.slice(1), ...(prefix.length ? ['apt-get'] : []), ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0 && !result.error;
}

/**
 * Makes sure the given Debian packages are installed. On a system without dpkg it only says what is
 * needed. Throws with one line naming the packages and the command when they are missing and
 * cannot be installed from here.
 * @param {Record<string, string>} packages name -> why it is needed
 */
export function ensureDebianPackages(packages) {
  if (process.platform !== 'linux') return;
  const names = Object.keys(packages);
  if (spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status !== 0) {
    log(`not a Debian system: the tests need the equivalents of ${names.join(', ')}`);
    return;
  }
  const missing = names.filter((name) => !installed(name));
  if (missing.length === 0) return;
  const command = `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const prefix = privilege();
  if (!prefix) throw new Error(`missing Debian packages ${missing.join(', ')}; install them with: ${command}`);
  for (const name of missing) log(`installing ${name}: ${packages[name]}`);
  // A fresh machine has no package lists yet: update first (cheap when they are current).
  const ok = apt(prefix, ['update', '-qq']) && apt(prefix, ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
  const still = missing.filter((name) => !installed(name));
  if (!ok || still.length > 0) throw new Error(`could not install ${still.join(', ') || missing.join(', ')} with apt-get; try: ${command}`);
}

const isMain = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  if (process.argv.includes('--list')) {
    console.log(Object.keys(TEST_PACKAGES).join('\n'));
  } else {
    try {
      ensureDebianPackages(TEST_PACKAGES);
    } catch (error) {
      log(error.message);
      process.exit(1);
    }
  }
}
