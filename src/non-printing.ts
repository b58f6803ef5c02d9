// Characters that would not print, and text with them shown as escapes:
// every layer that words a message naming a path or quoting other text uses
// these (the store's refusals, which any caller may print; the commands'
// lines, through src/cli/visible-text.ts), so that the message is one line,
// read in the order it holds, and shows the same whoever prints it; and a
// path as one word of a command to run (shellWord), for their advice.

/**
 * Characters that would not print, shown as escapes in what a command
 * prints, and which an origin of a key Cairn makes may not hold: controls (C0,
 * DEL, C1), format characters (category Cf: zero-width spaces and joiners,
 * the bidirectional embeddings, overrides and isolates of Unicode UAX #9,
 * tag characters), surrogates, private-use and unassigned code points, every
 * separator but the ASCII space (which isValidKeyName of src/note/keys.ts
 * refuses with its own words), and the other default-ignorable code points (fillers,
 * variation selectors). Each shows as nothing, or as something else, so a
 * name holding one cannot be read off a screen or typed back: two logs'
 * names could look the same. That holds within an emoji too: U+2764 with or
 * without the variation selector U+FE0F, or emoji with or without a zero-width
 * joiner (U+200D) between them, are different names that many screens draw
 * alike, and host names cannot hold either (IDNA drops or refuses them), so
 * they are refused there as well. Only keys Cairn makes are held to this:
 * an existing key is read whatever its origin holds.
 */
export const NON_PRINTING = /[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}]/u;
const NON_PRINTING_ALL = new RegExp(NON_PRINTING.source, 'gu');

/**
 * `text` with each character of {@link NON_PRINTING} but the ASCII space
 * and those in `keep` (say "\n") written as a visible `\u{XXXX}` escape:
 * safe to print whatever it holds, as JSON.stringify is not (it leaves C1
 * controls, bidi overrides and zero-width characters as they are).
 */
export function showNonPrinting(text: string, keep = ''): string {
  return text.replace(NON_PRINTING_ALL, (c) => (c === ' ' || keep.includes(c) ? c : `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}}`));
}

const UTF8 = new TextEncoder();

/**
 * `text` as one word for a POSIX shell: as it is when that is safe, else
 * single-quoted; one holding a character that would not print (see
 * showNonPrinting: a line break, a bidi override) is written `$'…'` with
 * each such character as the three-digit octal escapes (`\nnn`) of its
 * UTF-8 bytes, so that the command shown can neither start a line of its
 * own nor reorder the text around it, and still names the same path when
 * pasted into bash, zsh, ksh, busybox sh or a POSIX.1-2024 sh. `'` and `\`
 * are octal escapes too, so that a shell without `$'…'` (dash before
 * 0.5.13, Debian's /bin/sh) reads `$` and one single-quoted string: a wrong
 * path, never a command. Three digits end an escape in every one of those
 * shells, whatever follows (`\xHH` followed by a hex digit does not).
 */
export function shellWord(text: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text)) return text;
  if (showNonPrinting(text) === text) return `'${text.replace(/'/g, "'\\''")}'`;
  const octal = (c: string) => [...UTF8.encode(c)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
  const escaped = text.replace(/[\\']/g, octal).replace(NON_PRINTING_ALL, (c) => (c === ' ' ? c : octal(c)));
  return `$'${escaped}'`;
}
