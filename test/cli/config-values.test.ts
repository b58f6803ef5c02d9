// Configuration values that used to be taken silently: an option given twice
// (the last one won) and an empty value (an empty CAIRN_HOST listened on
// every interface). Both are usage errors now, in every command.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { envValue, parseCommandArgs, UsageError, type Positionals } from '../../src/cli/args.js';
import { vector } from '../helpers/keys.js';
import { CLI } from '../helpers/server-process.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-config-');

/**
 * Runs the CLI in `cwd` with no CAIRN_* variables but those of `env`. A
 * command that should have refused to start and did not is killed after
 * 20 s (code null), so that the test fails rather than hangs.
 */
function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const full: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(full)) if (name.startsWith('CAIRN_')) delete full[name];
  Object.assign(full, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    // 'close', not 'exit': the output may still be on its way when the process has exited.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('parseCommandArgs', () => {
  const options = { data: { type: 'string' }, quiet: { type: 'boolean' }, file: { type: 'string', multiple: true } } as const;

  test('refuses an option that takes a value given twice, in either spelling', () => {
    expect(() => parseCommandArgs(['--data', 'a', '--data', 'b'], options)).toThrow(new UsageError('--data is given more than once; give it once'));
    expect(() => parseCommandArgs(['--data=a', '--data', 'a'], options)).toThrow(UsageError);
  });

  test('takes an option declared multiple as often as it is given', () => {
    const { values } = parseCommandArgs(['--file', 'a', '--file', 'b', '--quiet', '--data', 'd'], options);
    expect(values).toEqual({ file: ['a', 'b'], quiet: true, data: 'd' });
  });

  test('refuses a flag given twice, --help and -h included, as README and every --help say', () => {
    expect(() => parseCommandArgs(['--quiet', '--data', 'd', '--quiet'], options)).toThrow(new UsageError('--quiet is given more than once; give it once'));
    expect(() => parseCommandArgs(['-h', '--help'], options)).toThrow(new UsageError('--help is given more than once; give it once'));
  });

  test("words node's three-line message for an option followed by another option as one line", () => {
    let message = '';
    try {
      parseCommandArgs(['--data', '--quiet'], options);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^Option '--data' argument is ambiguous\. Did you forget to specify the option argument for '--data'\? To specify .*'--data=-XYZ'\.$/);
    expect(message).not.toContain('\n');
  });

  test('refuses an empty value, even of an option that may repeat', () => {
    expect(() => parseCommandArgs(['--data', ''], options)).toThrow(new UsageError('--data needs a value, got an empty one'));
    expect(() => parseCommandArgs(['--data='], options)).toThrow(new UsageError('--data needs a value, got an empty one'));
    expect(() => parseCommandArgs(['--file', 'a', '--file', ''], options)).toThrow(UsageError);
  });

  test('keeps positionals and refuses unknown options as before', () => {
    expect(parseCommandArgs(['--data', 'd', 'x', 'y'], options, 'files').positionals).toEqual(['x', 'y']);
    expect(() => parseCommandArgs(['--nope'], options)).toThrow(UsageError);
    expect(() => parseCommandArgs(['x'], options)).toThrow(UsageError);
  });

  test("names an unknown option alone, without node's advice on arguments that start with '-' (and its unbalanced quote)", () => {
    const message = (argv: string[], positionals: Positionals) => {
      try {
        parseCommandArgs(argv, options, positionals);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      throw new Error('no usage error');
    };
    for (const positionals of ['indexes', 'files', false] as const) {
      expect(message(['--x'], positionals)).toBe("Unknown option '--x'");
      expect(message(['--x=1', 'f'], positionals)).toBe("Unknown option '--x'");
      expect(message(['--a\u2028\"b'], positionals)).toBe("Unknown option '--a\\u{2028}\"b'");
    }
    // A negative number, where an index goes (cairn get -1): no index is one.
    expect(message(['-1'], 'indexes')).toBe("Unknown option '-1': a negative number is no index (the first entry is 0)");
    // Where files go, a short option may be a file named -1 or -foo (read as -f -o -o): how to name one.
    expect(message(['-1'], 'files')).toBe("Unknown option '-1' (a file whose name starts with '-' goes after --, as in: -- -file)");
    expect(message(['-foo'], 'files')).toBe("Unknown option '-f' (a file whose name starts with '-' goes after --, as in: -- -file)");
    expect(message(['-1'], false)).toBe("Unknown option '-1'");
  });
});

test('envValue: an unset variable is undefined, a set one its value, an empty one a usage error naming it', () => {
  expect(envValue({}, 'CAIRN_HOST')).toBeUndefined();
  expect(envValue({ CAIRN_HOST: '::1' }, 'CAIRN_HOST')).toBe('::1');
  expect(() => envValue({ CAIRN_HOST: '' }, 'CAIRN_HOST')).toThrow(new UsageError('CAIRN_HOST is set but empty; give it a value, or unset it'));
});

test('every command refuses an option given twice, with a usage error (exit 2)', async () => {
  const cases: [string, string[]][] = [
    ['serve', ['--data', 'd8', '--data', 'd9', '--port', '0']],
    ['serve', ['--port', '0', '--port', '0']],
    ['keygen', ['--origin', 'a.example/log', '--out', 'k1', '--out', 'k2']],
    ['add', ['--url', 'http://127.0.0.1:9', '--url', 'http://127.0.0.1:9', '--vkey', 'x', 'f']],
    ['get', ['--vkey', 'a', '--vkey', 'b', '0']],
    ['prove', ['--hash', 'a', '--hash', 'b']],
    ['verify-receipt', ['--entry', 'a', '--entry', 'b', 'r.json']],
    ['monitor', ['--state', 's1', '--state', 's2', '--once']],
    ['audit', ['--data', 'd1', '--data', 'd2']],
    // Flags too.
    ['serve', ['--quiet', '--quiet', '--port', '0']],
    ['get', ['--tiles', '--vkey', 'x', '--tiles', '0']],
    ['monitor', ['--json', '--json', '--once', '--state', 's']],
    ['audit', ['--quiet', '--data', 'd1', '--quiet']],
  ];
  const results = await Promise.all(cases.map(([command, args]) => run([command, ...args], dir())));
  results.forEach((res, i) => {
    const [command, args] = cases[i]!;
    const repeated = args.find((a, k) => a.startsWith('--') && args.indexOf(a) !== k)!;
    expect([command, res.code]).toEqual([command, 2]);
    expect(res.stderr).toContain(`${repeated} is given more than once; give it once`);
  });
  // Nothing was made: no data folder, no key.
  expect(await readdir(dir())).toEqual([]);
});

test('serve refuses an empty value of each of its variables and options, naming it, and makes nothing', async () => {
  const variables = ['CAIRN_DATA', 'CAIRN_KEY', 'CAIRN_ORIGIN', 'CAIRN_HOST', 'CAIRN_PORT', 'CAIRN_TOKENS'];
  // --port 0 but for CAIRN_PORT, which the option would override.
  const fromEnv = await Promise.all(variables.map((name) => run(name === 'CAIRN_PORT' ? ['serve'] : ['serve', '--port', '0'], dir(), { [name]: '' })));
  fromEnv.forEach((res, i) => {
    expect([variables[i], res.code, res.stderr]).toEqual([variables[i], 2, `cairn serve: ${variables[i]} is set but empty; give it a value, or unset it\nRun 'cairn serve --help' for its options.\n`]);
  });
  const flags = ['--data', '--key', '--origin', '--host', '--port', '--tokens', '--max-queue', '--max-upload-mib'];
  const fromFlags = await Promise.all(flags.map((flag) => run(['serve', flag, ''], dir())));
  fromFlags.forEach((res, i) => expect([flags[i], res.code, res.stderr]).toEqual([flags[i], 2, expect.stringContaining(`${flags[i]} needs a value, got an empty one`)]));
  // Nothing was made (the default data folder is ./cairn-data in the working folder).
  expect(await readdir(dir())).toEqual([]);
});

test('an option wins over its variable, and an empty variable behind a given option is not consulted', async () => {
  const res = await run(['serve', '--host', '127.0.0.1', '--port', 'x'], dir(), { CAIRN_HOST: '' });
  expect([res.code, res.stderr]).toEqual([2, expect.stringContaining('--port must be a port number 0..65535, got "x"')]);
  const origin = await run(['serve', '--port', '0'], dir(), { CAIRN_ORIGIN: 'bad origin' });
  expect([origin.code, origin.stderr]).toEqual([2, expect.stringContaining('invalid origin "bad origin" (from CAIRN_ORIGIN)')]);
  expect(await readdir(dir())).toEqual([]);
});

test('the other commands refuse an empty variable too, naming it (exit 2)', async () => {
  const vkey = vector.verifier_key;
  const cases: [string[], string][] = [
    [['get', '--vkey', vkey, '0'], 'CAIRN_URL'],
    [['get', '0'], 'CAIRN_VKEY'],
    [['get', '--vkey', vkey, '0'], 'CAIRN_TOKEN'],
    [['audit'], 'CAIRN_DATA'],
    [['keygen', '--out', 'k'], 'CAIRN_ORIGIN'],
  ];
  const results = await Promise.all(cases.map(([args, name]) => run(args, dir(), { [name]: '' })));
  results.forEach((res, i) => {
    const [args, name] = cases[i]!;
    expect([args, name, res.code, res.stderr]).toEqual([args, name, 2, expect.stringContaining(`${name} is set but empty; give it a value, or unset it`)]);
  });
  expect(await readdir(dir())).toEqual([]);
});
