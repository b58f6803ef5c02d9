// Who the folder and ownership tests run as, and uid 65534 (nobody), whose
// name they expect in messages; and a folder made with an exact mode.
import { readFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';

export const NOBODY = 65534;
export const EUID = process.geteuid!();
/** This process's user as the advice names it for chown: its name, not its uid (`chown -R root …` when run as root). */
export const EUID_NAME = userInfo().username;
/** uid 65534's name in /etc/passwd (nobody), where it is there. */
export const NOBODY_NAME = readFileSync('/etc/passwd', 'utf8')
  .split('\n')
  .map((line) => line.split(':'))
  .find((fields) => fields[2] === String(NOBODY))?.[0];

/** Makes `path` (and any missing folders above it) with `mode` set exactly, whatever the umask. */
export async function folder(path: string, mode: number): Promise<string> {
  await mkdir(path, { recursive: true });
  await chmod(path, mode);
  return path;
}
