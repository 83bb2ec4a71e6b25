/**
 * `sepconv forward --backend webgpu` on a machine without a GPU. When Dawn looks for an adapter and
 * finds none, it writes native log lines ("Warning: vkCreateInstance: Found no drivers!", with the
 * C++ source location) straight to file descriptor 2, where no JavaScript can catch them, and no
 * option of the `webgpu` package turns them off. So before Dawn is loaded into the CLI's process, a
 * child process asks it for an adapter with its stderr captured: without one, the CLI says so in
 * one line; with one, the run goes on in this process (Dawn prints nothing once it has an
 * adapter). With --verbose there is no probe: Dawn's lines are wanted then.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { errorMessage } from './files';

export interface AdapterProbe {
  found: boolean;
  /** Why no adapter was found (when `found` is false). */
  reason?: string;
  /** What Dawn wrote to stderr while looking. */
  dawnLog: string;
}

/** Long enough for Dawn to load and enumerate SwiftShader on a slow machine, ms. */
const PROBE_TIMEOUT_MS = 30_000;

/** Runs in the child: loads the package given as the first argument and asks for an adapter. */
const PROBE_SCRIPT = `
const { create } = await import(process.argv[1]);
const adapter = await create([]).requestAdapter();
process.stdout.write(adapter ? 'adapter' : 'none');
process.exit(0);
`;

/** Asks Dawn for an adapter in a child process, so that nothing Dawn prints reaches this process's terminal. */
export function probeAdapterQuietly(timeoutMs = PROBE_TIMEOUT_MS): AdapterProbe {
  let url: string;
  try {
    url = pathToFileURL(createRequire(__filename).resolve('webgpu')).href;
  } catch (error) {
    return { found: false, reason: `host WebGPU unusable: the 'webgpu' package could not be found (${errorMessage(error)})`, dawnLog: '' };
  }
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, url], { encoding: 'utf8', timeout: timeoutMs, env: process.env });
  const dawnLog = child.stderr ?? '';
  if (child.stdout === 'adapter') return { found: true, dawnLog };
  if (child.stdout === 'none')
    return { found: false, reason: 'host WebGPU unusable: no WebGPU adapter (no GPU driver, and no SwiftShader: set VK_ICD_FILENAMES)', dawnLog };
  const how = child.error ? child.error.message : child.signal ? `ended by ${child.signal}` : `exit code ${child.status}`;
  return { found: false, reason: `host WebGPU unusable: looking for an adapter failed (${how})`, dawnLog };
}
