import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cliCapture';

describe('sepconv COMMAND --help', () => {
  it('prints the usage and exits 0 for every command, instead of "Unknown option"', async () => {
    for (const command of ['cost', 'forward', 'presets']) {
      for (const flag of ['--help', '-h']) {
        const { code, out, err } = await runCli([command, flag]);
        expect({ command, flag, code, err }).toEqual({ command, flag, code: 0, err: '' });
        expect(out).toContain(`sepconv ${command}`);
      }
    }
  });
});

describe('sepconv cost', () => {
  it('prints the published MobileNetV1 figures for the preset', async () => {
    const { code, out } = await runCli(['cost', '--model', 'mobilenet_v1']);
    expect(code).toBe(0);
    expect(out).toMatch(/params 4\.2\dM, MACs 56[89]\.\d\dM/);
    expect(out).toMatch(/with standard convs instead: params 29\.3\dM/);
  });

  it('--json has layers and totals, and reproduces torchinfo on a user spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sepconv-cli-'));
    const path = join(dir, 'model.json');
    writeFileSync(path, JSON.stringify({ layers: [{ type: 'Conv2d', in_channels: 16, out_channels: 32, kernel_size: 3, groups: 4 }] }));
    const { code, out } = await runCli(['cost', '--model', path, '--input-shape', '7,16,28,28', '--json']);
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.total).toMatchObject({ params: 1184, macs: 5_602_688, flops: 2 * 5_602_688 });
    expect(json.layers[0]).toMatchObject({ params: 1184, macs: 5_602_688, output_shape: [7, 32, 26, 26] });
  });

  it('MobileNetV2 under torchinfo: 3,504,872 params', async () => {
    const { out } = await runCli(['cost', '--model', 'mobilenet_v2', '--json']);
    expect(JSON.parse(out).total.params).toBe(3_504_872);
  });

  it('errors go to stderr with a non-zero exit code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sepconv-cli-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ layers: [{ type: 'Conv2d', in_channels: 32, out_channels: 32, kernel_size: 3, groups: 3 }] }));
    let r = await runCli(['cost', '--model', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid model: layers\[0\]\.groups: groups=3 does not divide in_channels=32/);
    writeFileSync(bad, '{ not json');
    r = await runCli(['cost', '--model', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not valid JSON/);
    r = await runCli(['cost', '--model', 'mobilenet_v1', '--convention', 'thop']);
    expect(r.err).toMatch(/--convention must be one of/);
    r = await runCli(['cost', '--model', 'mobilenet_v1', '--input-shape', '1,3,224']);
    expect(r.err).toMatch(/--input-shape must be 4 positive integers/);
    r = await runCli(['frobnicate']);
    expect(r.code).toBe(1);
  });

  it('lists the presets', async () => {
    const { code, out } = await runCli(['presets']);
    expect(code).toBe(0);
    for (const name of ['mobilenet_v1', 'mobilenet_v2', 'mobilenet_v1_block', 'mobilenet_v2_block', 'xception_block', 'plain_conv3x3']) expect(out).toContain(name);
  });
});
