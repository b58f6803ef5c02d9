// Token rate limits (issue 6 "Access") run on a monotonic clock by default:
// a step of the system clock forward does not refill a token's bucket, and a
// step back does not hold it empty. The clocks are spied on; nothing waits.
import type { IncomingMessage } from 'node:http';
import { AccessControl, hashToken } from '../../src/http/access.js';
import { spiedClocksEachTest } from '../helpers/spied-clocks.js';

const TOKEN = 'hourly-token-eeeeeeeeeeeeeeeeee';

/** A POST /v1/entries with the token, as authorize sees it. */
function post(): IncomingMessage {
  return { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, rawHeaders: ['Authorization', `Bearer ${TOKEN}`] } as unknown as IncomingMessage;
}

const clocks = spiedClocksEachTest();

function hourlyAccess(): AccessControl {
  return new AccessControl({ tokens: [{ name: 'hourly', role: 'submit', hash: hashToken(TOKEN), rate: { limit: 2, periodMs: 3_600_000 } }] });
}

test('a step of the system clock forward does not refill a 2/h token: its third request in seconds is refused', () => {
  const access = hourlyAccess();
  expect(access.authorize(post(), '/v1/entries').name).toBe('hourly');
  expect(access.authorize(post(), '/v1/entries').name).toBe('hourly');
  clocks.wall += 3_600_000; // the system clock steps forward an hour
  clocks.mono += 2000; // while two seconds pass
  expect(() => access.authorize(post(), '/v1/entries')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
});

test('a step of the system clock back does not hold the bucket empty: it refills as time passes', () => {
  const access = hourlyAccess();
  access.authorize(post(), '/v1/entries');
  access.authorize(post(), '/v1/entries');
  clocks.wall -= 3_600_000; // the system clock steps back an hour
  clocks.mono += 1_800_000; // while half an hour passes: one unit back
  expect(access.authorize(post(), '/v1/entries').name).toBe('hourly');
  expect(() => access.authorize(post(), '/v1/entries')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
});
