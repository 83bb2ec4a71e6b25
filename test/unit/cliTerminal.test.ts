/** The CLI prints names, paths, messages and code from its input with every control character escaped. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { terminalSafe } from '../../src/cli/terminal';
import { writeNpy } from '../../src/io/npy';

/** ESC sequences (title, clear screen, colour), BEL, CR, a C1 CSI, a bidi override and isolate, a zero-width space. */
const HOSTILE = '\u001b]0;owned\u0007\u001b[2J\u001b[31mred\rX\u009b1m\u202egnp.exe\u2066\u200b';
/** Anything that acts on a terminal instead of showing: C0 but the line feed, DEL, C1, bidi and zero-width format characters. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-term-'));
});

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await main(args, (s) => lines.push(s), (s) => lines.push(s));
  return { code, text: lines.join('\n') };
}

function expectNoControl(text: string): void {
  const found = RAW_CONTROL.exec(text);
  expect(found, found ? `raw U+${found[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${found.index} in ${JSON.stringify(text)}` : '').toBeNull();
}

describe('terminalSafe', () => {
  it('writes each control character as \\uXXXX, keeps line feeds unless asked, leaves other text alone', () => {
    expect(terminalSafe('a\u001b[31mb\u0007\r\n\tc\u009b\u202e')).toBe('a\\u001b[31mb\\u0007\\u000d\n\\u0009c\\u009b\\u202e');
    expect(terminalSafe('a\nb', true)).toBe('a\\u000ab');
    expect(terminalSafe('MobileNet × 2 — ok, 日本')).toBe('MobileNet × 2 — ok, 日本');
  });
  it('keeps JSON valid and its values the same', () => {
    const value = { name: `x${HOSTILE}\u0085y` };
    const safe = terminalSafe(JSON.stringify(value, null, 2));
    expectNoControl(safe);
    expect(JSON.parse(safe)).toEqual(value);
  });
});

describe('the CLI escapes what it prints from its input', () => {
  const model = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ name, input_shape: [1, 3, 8, 8], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 3, ...extra }] });

  it('cost: the model name, in the table and in --json', async () => {
    const path = join(dir, 'm.json');
    writeFileSync(path, model(HOSTILE));
    let r = await run(['cost', '--model', path]);
    expect(r.code).toBe(0);
    expectNoControl(r.text);
    expect(r.text).toContain('\\u001b]0;owned\\u0007');
    r = await run(['cost', '--model', path, '--json']);
    expect(r.code).toBe(0);
    expectNoControl(r.text);
    expect(JSON.parse(r.text).name).toBe(HOSTILE);
  });

  it('cost: file names and values quoted in errors', async () => {
    let r = await run(['cost', '--model', join(dir, `missing${HOSTILE}.json`)]);
    expect(r.code).toBe(1);
    expectNoControl(r.text);
    const bad = join(dir, `bad${HOSTILE}.json`);
    writeFileSync(bad, '{ not json');
    r = await run(['cost', '--model', bad]);
    expect(r.code).toBe(1);
    expectNoControl(r.text);
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, model('m', { padding_mode: HOSTILE }));
    r = await run(['cost', '--model', spec]);
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/padding_mode/);
    expectNoControl(r.text);
    r = await run(['cost', '--model', spec, '--convention', HOSTILE]);
    expect(r.code).toBe(1);
    expectNoControl(r.text);
  });

  it('cost FILE.py: the code, the file name, the diagnostics', async () => {
    const file = join(dir, `net${HOSTILE}.py`);
    writeFileSync(file, `import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3, padding='${HOSTILE}'), nn.Conv2d(8, 6, 3, groups=4, padding_mode=cfg['${HOSTILE}']))\n`);
    for (const json of [false, true]) {
      const r = await run(['cost', file, ...(json ? ['--json'] : [])]);
      expect(r.code).toBe(0);
      expect(r.text).toMatch(/Conv2d/);
      expectNoControl(r.text);
    }
  });

  it('forward: the model name and the output path', async () => {
    const modelPath = join(dir, 'm.json');
    const inputPath = join(dir, 'x.npy');
    writeFileSync(modelPath, model(HOSTILE));
    writeFileSync(inputPath, writeNpy({ shape: [1, 3, 8, 8], data: new Float32Array(192) }));
    const r = await run(['forward', '--model', modelPath, '--input', inputPath, '--output', join(dir, `y${HOSTILE}.npy`), '--init', 'seed:1']);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/wrote /);
    expectNoControl(r.text);
    const missing = await run(['forward', '--model', modelPath, '--input', join(dir, `none${HOSTILE}.npy`), '--output', join(dir, 'y.npy')]);
    expect(missing.code).toBe(1);
    expectNoControl(missing.text);
  });
});
