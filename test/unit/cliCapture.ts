/** Writers for the CLI's commands that keep what they are given, for tests to read. */
import { main } from '../../src/cli/main';
import type { CliOutput } from '../../src/cli/terminal';

export interface CapturedOutput {
  /** The writers to hand a command (or main(): `main(args, io.out, io.err)`). */
  io: CliOutput;
  /** Each text passed to `io.out`, in order. */
  out: string[];
  /** Each text passed to `io.err`, in order. */
  err: string[];
}

export function captureOutput(): CapturedOutput {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (text) => out.push(text), err: (text) => err.push(text) }, out, err };
}

/** Runs `sepconv ARGS` through main(); what it printed on each writer, one text per line. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { io, out, err } = captureOutput();
  const code = await main(args, io.out, io.err);
  return { code, out: out.join('\n'), err: err.join('\n') };
}
