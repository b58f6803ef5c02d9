// The logger's helpers: --quiet's filter, and the fields an error is logged with.
import { errorFields, jsonLogger, REQUEST_MESSAGE, withoutRequestLines } from '../../src/log/logger.js';

function captured() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const logger = jsonLogger((line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
  return { lines, logger };
}

test('withoutRequestLines drops the request lines only: errors, warnings and other info lines pass, with their fields', () => {
  const { lines, logger } = captured();
  const quiet = withoutRequestLines(logger);
  quiet.info(REQUEST_MESSAGE, { status: 201 });
  quiet.info('request', { status: 503 });
  quiet.error('rounds could not be written', { code: 'ENOSPC' });
  quiet.warn('the filter gave up', { bytes: 3 });
  quiet.info('rounds are written again', { failed: 2 });
  expect(lines.map(({ level, msg }) => [level, msg])).toEqual([
    ['error', 'rounds could not be written'],
    ['warn', 'the filter gave up'],
    ['info', 'rounds are written again'],
  ]);
  expect(lines[0]).toMatchObject({ code: 'ENOSPC' });
  expect(lines[1]).toMatchObject({ bytes: 3 });
  expect(lines[2]).toMatchObject({ failed: 2 });
});

test('errorFields gives the message, the code and the chain of causes, outermost first', () => {
  const os = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const level = Object.assign(new Error('IO error: 000003.log: write failed', { cause: os }), { code: 'LEVEL_IO_ERROR' });
  const outer = new Error('the round could not be written', { cause: level });
  expect(errorFields(outer)).toEqual({
    error: 'the round could not be written',
    cause: ['IO error: 000003.log: write failed (LEVEL_IO_ERROR)', 'ENOSPC: no space left on device, write (ENOSPC)'],
  });
  expect(errorFields(level)).toEqual({ error: 'IO error: 000003.log: write failed', code: 'LEVEL_IO_ERROR', cause: ['ENOSPC: no space left on device, write (ENOSPC)'] });
  expect(errorFields(new Error('plain'))).toEqual({ error: 'plain' });
  expect(errorFields('a string')).toEqual({ error: 'a string' });
  expect(errorFields(new Error('x', { cause: 'not an Error' }))).toEqual({ error: 'x', cause: ['not an Error'] });
});

test('errorFields ends on a cycle of causes', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  const fields = errorFields(a);
  expect(fields.error).toBe('a');
  expect(fields.cause!.length).toBeLessThanOrEqual(8);
  expect(fields.cause!.slice(0, 3)).toEqual(['b', 'a', 'b']);
});
