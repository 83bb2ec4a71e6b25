/**
 * Text for the terminal. Names, paths, error messages and Python code printed by the CLI come from
 * files and arguments, and a control character among them (ESC starting a sequence, BEL, a
 * carriage return rewriting the line, a bidi override reordering it) would act on the terminal
 * instead of being shown. Every text the CLI prints goes through {@link terminalSafe}: main() wraps
 * the writers of {@link CliOutput} that every command is handed.
 */

/**
 * C0 controls (but the line feed, unless `oneLine`), DEL, C1 controls, and the invisible format
 * characters that reorder or hide text (bidi embeddings, overrides and isolates, the marks, line
 * and paragraph separators, zero-width characters, the BOM).
 */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * `text` with each control character written as `\uXXXX`. That is also how JSON writes an escaped
 * character, so JSON output stays valid JSON with the same values. `oneLine` escapes line feeds
 * too (for a single field such as a name); by default they are kept, for whole lines of output.
 */
export function terminalSafe(text: string, oneLine = false): string {
  return text.replace(oneLine ? CONTROL_OR_NEWLINE : CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Where a command prints: one call per line (or block of lines), without the final line feed. */
export type Writer = (text: string) => void;

/**
 * The two writers every command prints through: `out` for results, `err` for notes and errors.
 * main() makes them from the process streams; tests pass their own to capture what is printed.
 */
export interface CliOutput {
  out: Writer;
  err: Writer;
}

/** Writers that pass every text through {@link terminalSafe} before `output`'s own. */
export function safeOutput(output: CliOutput): CliOutput {
  return { out: (text) => output.out(terminalSafe(text)), err: (text) => output.err(terminalSafe(text)) };
}

/** The process's own streams, a line feed after each text. */
export const processOutput: CliOutput = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/**
 * A reader that goes away (`sepconv cost --json | head -1`) closes the pipe: the CLI then stops
 * quietly with status 0, as there is nobody left to tell, instead of an EPIPE stack trace.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(0);
    else throw error;
  });
}

/**
 * Columns for a table printed by the CLI: each as wide as its widest cell among `rows` (the header
 * included), two spaces apart; columns from `rightFrom` on (the numbers) are right-aligned.
 * `line` lays out one row (without trailing spaces); `rule` is a line of dashes under each column.
 */
export function tableColumns(rows: readonly string[][], rightFrom = Number.POSITIVE_INFINITY): { line: (cells: readonly string[]) => string; rule: string } {
  const count = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: count }, (_, i) => Math.max(0, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i >= rightFrom ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return { line, rule: widths.map((w) => '-'.repeat(w)).join('  ') };
}
