// Every option a command parses is in its --help (in the synopsis and with a
// line of its own), and every option its --help names is one it parses:
// the parser's list and the help text are compared, so they cannot drift.
import { KEYGEN_OPTIONS, KEYGEN_USAGE } from '../../src/cli/keygen.js';
import { SERVE_OPTIONS, SERVE_USAGE } from '../../src/cli/serve.js';

const commands = [
  { name: 'serve', options: Object.keys(SERVE_OPTIONS), usage: SERVE_USAGE },
  { name: 'keygen', options: Object.keys(KEYGEN_OPTIONS), usage: KEYGEN_USAGE },
];

describe.each(commands)('cairn $name --help', ({ name, options, usage }) => {
  const [synopsis = '', ...rest] = usage.split('\n\n');
  const body = rest.join('\n\n');

  test('the synopsis lists every option it parses', () => {
    expect(synopsis.startsWith(`usage: cairn ${name} `)).toBe(true);
    const listed = [...synopsis.matchAll(/--([a-z-]+)/g)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...options].sort());
  });

  test('each option it parses has a line of its own, and -h, --help too', () => {
    const described = [...body.matchAll(/^ {2}(?:-h, )?--([a-z-]+)/gm)].map((m) => m[1]);
    expect(described.sort()).toEqual([...options, 'help'].sort());
  });

  test('every option the help names anywhere is one it parses', () => {
    const named = new Set([...usage.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]));
    expect([...named].sort()).toEqual([...options, 'help'].sort());
  });
});
