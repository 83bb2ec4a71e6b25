/**
 * How deeply a Python file nests, found from its text before it is parsed: the syntax tree of a
 * file nested thousands deep (3,000 nested `nn.Sequential(` calls) would be deeper than any
 * recursive walk over it can go. The limits are CPython's own, so no file Python accepts is refused.
 */

/** CPython's tokenizer refuses more nested brackets than this ("too many nested parentheses", MAXLEVEL). */
export const MAX_BRACKET_NESTING = 200;
/** CPython's tokenizer refuses more indentation levels than this ("too many levels of indentation", MAXINDENT). */
export const MAX_INDENT_LEVELS = 100;

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const SPACE = 32;
const TAB = 9;
const FORM_FEED = 12;
const HASH = 35;
const BACKSLASH = 92;
const SINGLE_QUOTE = 39;
const DOUBLE_QUOTE = 34;

/**
 * Why `text` nests too deeply to be read ("nesting too deep (limit 200 nested brackets)"), or
 * undefined. Brackets inside strings and comments do not count. One pass over the text.
 */
export function pythonNestingProblem(text: string): string | undefined {
  const n = text.length;
  let brackets = 0;
  const indents = [0];
  let lineStart = true;
  let i = 0;
  while (i < n) {
    if (lineStart) {
      lineStart = false;
      if (brackets === 0) {
        let width = 0;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === SPACE) width++;
          else if (c === TAB) width = (Math.floor(width / 8) + 1) * 8;
          else if (c !== FORM_FEED) break;
          i++;
        }
        const next = i < n ? text.charCodeAt(i) : NEWLINE;
        // Blank and comment-only lines do not indent.
        if (next !== NEWLINE && next !== CARRIAGE_RETURN && next !== HASH) {
          if (width > indents[indents.length - 1]!) {
            indents.push(width);
            if (indents.length - 1 > MAX_INDENT_LEVELS) return `nesting too deep (limit ${MAX_INDENT_LEVELS} indentation levels)`;
          } else {
            while (indents.length > 1 && width < indents[indents.length - 1]!) indents.pop();
          }
        }
        continue;
      }
    }
    const c = text.charCodeAt(i);
    if (c === NEWLINE) {
      lineStart = true;
      i++;
    } else if (c === HASH) {
      while (i < n && text.charCodeAt(i) !== NEWLINE) i++;
    } else if (c === BACKSLASH) {
      // A line continuation: the next line continues this one.
      i += 2;
      if (i <= n && text.charCodeAt(i - 1) === CARRIAGE_RETURN && text.charCodeAt(i) === NEWLINE) i++;
    } else if (c === SINGLE_QUOTE || c === DOUBLE_QUOTE) {
      i = skipString(text, i, c);
    } else if (c === 40 || c === 91 || c === 123) {
      // ( [ {
      brackets++;
      if (brackets > MAX_BRACKET_NESTING) return `nesting too deep (limit ${MAX_BRACKET_NESTING} nested brackets)`;
      i++;
    } else if (c === 41 || c === 93 || c === 125) {
      // ) ] }
      if (brackets > 0) brackets--;
      i++;
    } else {
      i++;
    }
  }
  return undefined;
}

/** The index after the string that starts at `start` (a prefix such as f or r is already behind). */
function skipString(text: string, start: number, quote: number): number {
  const n = text.length;
  const triple = text.charCodeAt(start + 1) === quote && text.charCodeAt(start + 2) === quote;
  let i = start + (triple ? 3 : 1);
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) {
      i += 2;
    } else if (c === quote) {
      if (!triple) return i + 1;
      if (text.charCodeAt(i + 1) === quote && text.charCodeAt(i + 2) === quote) return i + 3;
      i++;
    } else if (c === NEWLINE && !triple) {
      // An unterminated string ends at the line's end, as the tokenizer gives up there.
      return i;
    } else {
      i++;
    }
  }
  return n;
}
