// The client commands against a log that answers what it cannot have signed
// (an unsigned page where a checkpoint should be, 10,000 nested arrays for a
// tree head) or far more than its endpoint can send: exit 2 (operational),
// an error line rather than an alarm for monitor, nothing parsed.
import { join } from 'node:path';
import { getCommand } from '../../src/cli/get.js';
import { monitorCommand } from '../../src/cli/monitor.js';
import { captureIo } from './client-io.js';
import { fakeLogEachTest, send } from './fake-log.js';

const t = fakeLogEachTest(5, 'cairn-hostile-');

test('an unsigned page where the checkpoint should be is an operational error (exit 2) for get, and an error line, not an alarm, for monitor', async () => {
  t.fake.hook = (path, _req, res) => {
    if (path !== 'checkpoint') return false;
    send(res, 200, '<html><body>502 Bad Gateway</body></html>\n', 'text/html');
    return true;
  };
  const io = captureIo();
  expect(await getCommand(['0', ...t.common], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn get: http:\S+\/checkpoint: not a signed checkpoint note: /);
  expect(io.err()).not.toContain('VERIFICATION FAILED');

  const mon = captureIo();
  expect(await monitorCommand([...t.common, '--state', join(t.dir, 'state-html.json'), '--once'], mon)).toBe(2);
  expect(mon.err()).toMatch(/ error: http:\S+\/checkpoint: not a signed checkpoint note/);
  expect(mon.err()).not.toContain('ALARM');
});

test('a get-sth answer of 10,000 nested arrays is an error line for monitor, not a bad-signature alarm', async () => {
  t.fake.hook = (path, _req, res) => {
    if (path !== 'ct/v1/get-sth') return false;
    send(res, 200, `${'['.repeat(10_000)}${']'.repeat(10_000)}`);
    return true;
  };
  const mon = captureIo();
  expect(await monitorCommand([...t.common, '--state', join(t.dir, 'state-deep.json'), '--once'], mon)).toBe(2);
  expect(mon.err()).toMatch(/ error: http:\S+\/ct\/v1\/get-sth: not a signed tree head/);
  expect(mon.err()).not.toContain('ALARM');
});

test('an answer of 1 MiB to get-entry-and-proof, which can be at most ~150 KB, is refused unparsed: exit 2', async () => {
  t.fake.hook = (path, _req, res) => {
    if (path !== 'ct/v1/get-entry-and-proof') return false;
    send(res, 200, `[${'{},'.repeat(349_525)}{}]`);
    return true;
  };
  const io = captureIo();
  expect(await getCommand(['0', ...t.common], io)).toBe(2);
  expect(io.err()).toMatch(/^cairn get: http:\S+\/ct\/v1\/get-entry-and-proof\?leaf_index=0&tree_size=5: the answer is longer than the 152916 bytes this client reads\n$/);
});
