/**
 * Runs media/python/measure.py in a child process: the exact figures of the layers a model file
 * builds, measured by PyTorch (or Keras 3). Used by `sepconv cost FILE.py --measure` and by the
 * editor's "Measure with PyTorch". Imports neither `vscode` nor the DOM.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One configuration of a site: how many layers built there have it, and its figures (null: not reached by the forward pass). */
export interface MeasuredInstance {
  count: number;
  params: number;
  macs: number | null;
  input_shape: number[] | null;
  output_shape: number[] | null;
}

/** The layers built by one call expression: 1-based line and column in `file` (relative to the root). */
export interface MeasuredSite {
  file: string;
  line: number;
  column: number;
  /** The framework's class: Conv2d, Linear, BatchNorm2d, MaxPool2d, Conv2D, DepthwiseConv2D, Dense, ... */
  layer: string;
  family: 'conv' | 'linear' | 'batchnorm' | 'pool';
  /** The user's subclass, when the layer is one (Conv2dStaticSamePadding). */
  class?: string;
  /** What the call built the layer through, when it is not the layer's own constructor (Conv2dNormActivation). */
  via?: string;
  via_file?: string;
  params?: number;
  macs?: number | null;
  input_shape?: number[] | null;
  output_shape?: number[] | null;
  instances: MeasuredInstance[];
}

export interface MeasuredEntry {
  name: string;
  /** call: a call of the file's script code (net = Net(10) in test()) that builds an entry needing arguments. */
  kind: 'class' | 'function' | 'expression' | 'call';
  status: 'measured' | 'partial' | 'failed' | 'skipped' | 'same model';
  reason?: string;
  input_shape?: number[] | null;
  input_source?: string | null;
  where?: { file: string; line: number } | null;
  /** Of a built model: its parameters, and the MACs of every layer the forward pass reached. */
  params?: number;
  macs?: number;
  /** How many sites its layers were built at. */
  sites?: number;
}

export interface MeasureResult {
  version: number;
  file: string;
  framework: 'torch' | 'keras';
  python: string;
  torch?: string;
  keras?: string;
  backend?: string;
  convention: 'torchinfo';
  layout: 'NCHW' | 'NHWC';
  entries: MeasuredEntry[];
  sites: MeasuredSite[];
}

export type MeasureFailure = 'no-python' | 'no-framework' | 'bad-arguments' | 'raised' | 'timeout' | 'cancelled' | 'crashed';

/** A measurement that gave no figures, with a message for the user. */
export class MeasureError extends Error {
  constructor(
    message: string,
    readonly failure: MeasureFailure,
    /** The innermost traceback frame in the workspace, when the user's code raised. */
    readonly where?: { file: string; line: number },
  ) {
    super(message);
  }
}

export interface MeasureOptions {
  /** The interpreter: a path or a command on PATH. */
  python: string;
  file: string;
  /** Positions are taken in files under this folder (the workspace folder); default: the file's folder. */
  root?: string;
  /** N,C,H,W (Keras: N,H,W,C); default: a `# sepconv: input` comment, else the first conv's channels at 224. */
  inputShape?: number[];
  /** Only these classes or functions of the file. */
  entries?: string[];
  /** Build the model with these expressions instead. */
  calls?: string[];
  framework?: 'auto' | 'torch' | 'keras';
  timeoutMs: number;
  signal?: AbortSignal;
  /** Where measure.py is; default: found beside the bundle (media/python/measure.py). */
  script?: string;
}

/** measure.py shipped with the extension: media/python beside dist/, or the source tree's. */
export function findMeasureScript(fromDirs: string[]): string {
  for (const dir of fromDirs) {
    for (const candidate of [path.join(dir, 'media/python/measure.py'), path.join(dir, '../media/python/measure.py')]) {
      if (fs.existsSync(candidate)) return path.resolve(candidate);
    }
  }
  throw new Error(`measure.py not found beside ${fromDirs.join(', ')}`);
}

/** Seconds of grace for the child after its own --timeout, before it is killed. */
const KILL_GRACE_MS = 5_000;

/** Runs the measurement; rejects with a MeasureError saying what went wrong. */
export function runMeasure(options: MeasureOptions): Promise<MeasureResult> {
  const script = options.script ?? findMeasureScript([__dirname]);
  const args = [script, options.file, '--timeout', String(Math.max(1, Math.floor(options.timeoutMs / 1000)))];
  if (options.root) args.push('--root', options.root);
  if (options.inputShape) args.push('--input', options.inputShape.join(','));
  if (options.framework && options.framework !== 'auto') args.push('--framework', options.framework);
  for (const entry of options.entries ?? []) args.push('--entry', entry);
  for (const call of options.calls ?? []) args.push('--call', call);
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new MeasureError('measuring was cancelled', 'cancelled'));
      return;
    }
    const child = spawn(options.python, args, {
      cwd: path.dirname(options.file),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let stderrBytes = 0;
    let ended: MeasureFailure | undefined;
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      // What the user's file prints goes to stderr: keep its last 64 KiB for error messages.
      err.push(chunk);
      stderrBytes += chunk.length;
      while (stderrBytes > 65_536 && err.length > 1) stderrBytes -= err.shift()!.length;
    });
    const stop = (why: MeasureFailure) => {
      ended = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop('timeout'), options.timeoutMs + KILL_GRACE_MS);
    const onAbort = () => stop('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      reject(
        error.code === 'ENOENT'
          ? new MeasureError(`Python was not found: ${JSON.stringify(options.python)} (choose an interpreter, or set sepconv.pythonPath)`, 'no-python')
          : new MeasureError(`could not start ${options.python}: ${error.message}`, 'no-python'),
      );
    });
    child.on('close', (code) => {
      finish();
      if (ended === 'cancelled') return reject(new MeasureError('measuring was cancelled', 'cancelled'));
      if (ended === 'timeout')
        return reject(new MeasureError(`measuring took longer than ${Math.round(options.timeoutMs / 1000)} s and was stopped`, 'timeout'));
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = Buffer.concat(err).toString('utf8').trim();
      let json: (Partial<MeasureResult> & { error?: { message: string; where?: { file: string; line: number } } }) | undefined;
      try {
        json = stdout ? (JSON.parse(stdout.slice(stdout.lastIndexOf('\n{') + 1)) as typeof json) : undefined;
      } catch {
        json = undefined;
      }
      if (!json) {
        const tail = stderr.split('\n').slice(-6).join('\n');
        return reject(new MeasureError(`${options.python} exited with ${code ?? 'a signal'} and printed no result${tail ? `:\n${tail}` : ''}`, 'crashed'));
      }
      if (json.error) {
        const failure: MeasureFailure =
          code === 3 ? 'no-framework' : code === 2 ? 'bad-arguments' : /longer than/.test(json.error.message) ? 'timeout' : 'raised';
        const where = json.error.where ? ` (${json.error.where.file}:${json.error.where.line})` : '';
        return reject(new MeasureError(`${json.error.message}${where}`, failure, json.error.where));
      }
      resolve(json as MeasureResult);
    });
  });
}

/** The sites of one file of the result (its path relative to the root, '/'-separated). */
export function sitesInFile(result: MeasureResult, relativeFile: string): MeasuredSite[] {
  return result.sites.filter((s) => s.file === relativeFile);
}

/** Function names that are script steps, not model builders (measure.py skips them too). */
const SCRIPT_STEP =
  /^(main|test|tests|train|training|eval|evaluate|val|validate|validation|run|demo|benchmark|bench|export|load|save|download|preprocess|decode|inference|infer|predict|fit|plot|show|print)(_|$)/i;

/** A class or top-level function of the file that may build a model: where its name is. */
export interface ModelDefinition {
  name: string;
  kind: 'class' | 'function';
  line: number;
  character: number;
}

/** Whether every parameter of the def starting at `lines[index]` has a default (or is *args, **kwargs, self). */
function callableWithoutArguments(lines: string[], index: number): boolean {
  let header = '';
  for (let i = index; i < Math.min(lines.length, index + 30); i++) {
    header += `${lines[i]!.replace(/#.*$/, '')} `;
    if (/\)\s*(->[^:]*)?:\s*$/.test(lines[i]!.replace(/#.*$/, ''))) break;
  }
  const open = header.indexOf('(');
  let depth = 0;
  let current = '';
  const params: string[] = [];
  for (const ch of header.slice(open + 1)) {
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') {
      if (depth === 0) break;
      depth--;
    }
    if (ch === ',' && depth === 0) {
      params.push(current.trim());
      current = '';
    } else current += ch;
  }
  params.push(current.trim());
  return params.filter((p) => p && p !== '*' && p !== '/' && p !== 'self').every((p) => p.includes('=') || p.startsWith('*'));
}

/**
 * Classes deriving from a Module/Model/Sequential and public top-level functions that return
 * something and need no argument: what measure.py can build.
 */
export function modelDefinitions(text: string): ModelDefinition[] {
  const lines = text.split(/\r?\n/);
  const found: ModelDefinition[] = [];
  lines.forEach((line, index) => {
    const cls = /^class\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*:/.exec(line);
    if (cls && /\b(Module|Sequential|Model)\b/.test(cls[2]!)) {
      found.push({ name: cls[1]!, kind: 'class', line: index, character: line.indexOf(cls[1]!) });
      return;
    }
    const fn = /^def\s+([A-Za-z]\w*)\s*\(/.exec(line);
    if (!fn || SCRIPT_STEP.test(fn[1]!) || !callableWithoutArguments(lines, index)) return;
    for (let i = index + 1; i < lines.length; i++) {
      const body = lines[i]!;
      if (/^\S/.test(body) && !body.startsWith('#') && !body.startsWith(')')) break;
      if (/^\s+return\s+\S/.test(body)) {
        found.push({ name: fn[1]!, kind: 'function', line: index, character: line.indexOf(fn[1]!) });
        return;
      }
    }
  });
  return found;
}
