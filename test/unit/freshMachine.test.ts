import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

describe('a fresh machine', () => {
  it('CI runs exactly the test command README gives', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const quickStart = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const readmeTest = quickStart
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .find((line) => line.endsWith('npm test'));
    expect(readmeTest).toBe('npm install && npm test');
    const ciCommands = readFileSync(join(root, '.ci/run'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && !line.startsWith('set ') && !line.startsWith('cd '));
    expect(ciCommands).toEqual([readmeTest]);
  });

  it('npm test first ensures the Debian packages the suites need', () => {
    const testScript = readFileSync(join(root, 'scripts/test.sh'), 'utf8');
    const commands = testScript.split('\n').filter((line) => line.trim() && !line.startsWith('#'));
    const ensure = commands.findIndex((line) => line.includes('node scripts/systemPackages.mjs test'));
    const firstSuite = commands.findIndex((line) => /vitest|esbuild/.test(line));
    expect(ensure).toBeGreaterThanOrEqual(0);
    expect(ensure).toBeLessThan(firstSuite);
    const listed = spawnSync(process.execPath, ['scripts/systemPackages.mjs', '--list'], { cwd: root, encoding: 'utf8' }).stdout.split('\n');
    for (const needed of ['chromium', 'libvulkan1', 'python3-torch']) expect(listed).toContain(needed);
  });

  it('without root or sudo, names the missing packages and the command in one line, and fails', () => {
    // A machine where nothing is installed: dpkg-query answers "not installed", sudo asks for a password.
    const bin = mkdtempSync(join(tmpdir(), 'sepconv-fresh-'));
    chmodSync(bin, 0o755);
    writeFileSync(join(bin, 'dpkg-query'), '#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "unknown ok not-installed"; exit 1\n');
    writeFileSync(join(bin, 'sudo'), '#!/bin/sh\necho "sudo: a password is required" >&2; exit 1\n');
    writeFileSync(join(bin, 'apt-get'), '#!/bin/sh\necho "apt-get must not run" >&2; exit 99\n');
    for (const name of ['dpkg-query', 'sudo', 'apt-get']) chmodSync(join(bin, name), 0o755);
    // A copy of the script beside the fakes: the clone itself may sit in a folder only root can read.
    copyFileSync(join(root, 'scripts/systemPackages.mjs'), join(bin, 'systemPackages.mjs'));
    const asRoot = process.getuid?.() === 0;
    const run = spawnSync(process.execPath, [join(bin, 'systemPackages.mjs'), 'test'], {
      cwd: bin,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin },
      // As root it would install: run as nobody, as a user without privileges would.
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    expect(run.status).toBe(1);
    expect(run.stderr).not.toContain('apt-get must not run');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /missing Debian packages .*chromium.*python3-torch.*; install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends /,
    );
  });
});
