// Text a command prints, made safe to read off a screen: every character that
// would not print (see NON_PRINTING) shown as a visible escape. For text a
// log server sent, client messages use escapeText (src/client/errors.ts),
// which escapes what a terminal would act on, in JSON-compatible \uXXXX form.
// NON_PRINTING and showNonPrinting live in src/non-printing.ts, which the
// store's messages use too; they are exported here as well.
import { showNonPrinting } from '../non-printing.js';

export { NON_PRINTING, showNonPrinting } from '../non-printing.js';

/** `text` in double quotes, its `"` and `\` escaped and its non-printing characters shown (see {@link showNonPrinting}). */
export function quoteVisibly(text: string): string {
  return `"${showNonPrinting(text.replace(/["\\]/g, (c) => `\\${c}`))}"`;
}

/**
 * An error's message for a line of cairn's own: its own line breaks kept,
 * every other character that would not print (controls, C1 too, bidi and
 * other format characters, U+2028/2029) shown as an escape.
 */
export function printableError(err: unknown): string {
  return showNonPrinting(err instanceof Error ? err.message : String(err), '\n');
}
