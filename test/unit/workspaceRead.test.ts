/** The page's workspace reads: file types, links in and out of the workspace, non-regular files, the size cap. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readInsideFolders, READABLE_EXTENSIONS, MAX_READ_BYTES } from '../../src/playground/workspaceRead';

let root: string;
let ws: string;
let out: string;
const read = (relative: string, max?: number) => readInsideFolders([ws], path.join(ws, relative), relative, max);

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sepconv-read-'));
  ws = path.join(root, 'ws');
  out = path.join(root, 'outside');
  fs.mkdirSync(path.join(ws, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(ws, '.git'));
  fs.mkdirSync(path.join(ws, 'folder.png'));
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(ws, 'w.safetensors'), 'weights');
  fs.writeFileSync(path.join(ws, 'sub', 'Image.PNG'), 'png');
  fs.writeFileSync(path.join(ws, '.env'), 'TOKEN=secret');
  fs.writeFileSync(path.join(ws, '.git', 'config'), '[remote] url = https://token@example.com');
  fs.writeFileSync(path.join(out, 'secret.safetensors'), 'outside');
  fs.symlinkSync(path.join(ws, 'w.safetensors'), path.join(ws, 'sub', 'link-in.safetensors'));
  fs.symlinkSync('../w.safetensors', path.join(ws, 'sub', 'relative-in.safetensors'));
  fs.symlinkSync(path.join(out, 'secret.safetensors'), path.join(ws, 'link-out.safetensors'));
  fs.symlinkSync('/etc/passwd', path.join(ws, 'passwd.png'));
  fs.symlinkSync(path.join(ws, '.env'), path.join(ws, 'env.safetensors'));
  fs.symlinkSync(out, path.join(ws, 'dirlink'));
  fs.symlinkSync(ws, path.join(root, 'ws-link'));
  execFileSync('mkfifo', [path.join(ws, 'fifo.safetensors')]);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('readInsideFolders', () => {
  it('reads the allowed types inside the workspace, also through a link that stays inside', async () => {
    expect(new TextDecoder().decode(await read('w.safetensors'))).toBe('weights');
    expect(new TextDecoder().decode(await read('sub/Image.PNG'))).toBe('png');
    expect(new TextDecoder().decode(await read('sub/link-in.safetensors'))).toBe('weights');
    expect(new TextDecoder().decode(await read('sub/relative-in.safetensors'))).toBe('weights');
    // The workspace folder opened through a link of its own.
    expect(new TextDecoder().decode(await readInsideFolders([path.join(root, 'ws-link')], path.join(root, 'ws-link', 'w.safetensors'), 'w.safetensors'))).toBe(
      'weights',
    );
  });
  it('refuses .env, .git/config and every type not in the list', async () => {
    await expect(read('.env')).rejects.toThrow(/\.env: the playground reads only \.safetensors/);
    await expect(read('.git/config')).rejects.toThrow(/reads only/);
    await expect(read('sub')).rejects.toThrow(/reads only/);
    expect(READABLE_EXTENSIONS).toContain('.safetensors');
  });
  it('refuses links that lead out of the workspace, or to a file of another type', async () => {
    await expect(read('link-out.safetensors')).rejects.toThrow(/outside the workspace/);
    await expect(read('passwd.png')).rejects.toThrow(/outside the workspace/);
    await expect(read('dirlink/secret.safetensors')).rejects.toThrow(/outside the workspace/);
    await expect(read('env.safetensors')).rejects.toThrow(/links to a file of another type/);
    await expect(readInsideFolders([ws], path.join(out, 'secret.safetensors'), 'x.safetensors')).rejects.toThrow(/outside the workspace/);
  });
  it('refuses a FIFO without waiting for a writer, a folder, a missing file and a file over the cap', async () => {
    await expect(read('fifo.safetensors')).rejects.toThrow(/not a regular file/);
    await expect(read('folder.png')).rejects.toThrow(/not a regular file/);
    await expect(read('missing.safetensors')).rejects.toThrow(/no such file/);
    await expect(read('w.safetensors', 3)).rejects.toThrow(/7 bytes, more than the 3/);
    expect(MAX_READ_BYTES).toBe(256 * 1024 ** 2);
  });
});
