// A store folder on a file system without Unix modes (vfat, exFAT, some
// NFS/SMB mounts): every folder shows the same mode (0755, say), and a chmod
// is either refused (EPERM, vfat) or taken without effect (vfat with 'quiet',
// SMB without Unix extensions). serve then starts, warning that other users
// may be able to read the log's files, rather than refusing every start after
// the first, or claiming each time that it closed the folder. The calls of
// prepareStoreFolder are stood in for: no such file system is mounted here.
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startupWarnings } from '../../src/cli/serve.js';
import { prepareStoreFolder, type StoreFolderCalls } from '../../src/cli/data-folder.js';
import { StartError } from '../../src/cli/start-error.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('cairn-store-folder-modes-');

/** An error as node's fs gives it, with its code and errno. */
function fsError(code: string, errno: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fake`), { code, errno });
}

/** The real calls, but chmod does what `chmod` says and mkdir makes folders 0755, as a file system with dmask=022 shows them. */
function withoutModes(chmodCall: StoreFolderCalls['chmod']): StoreFolderCalls {
  return {
    mkdir: async (path) => {
      await mkdir(path);
      await chmod(path, 0o755);
    },
    stat,
    chmod: chmodCall,
    access,
  };
}

/** A chmod that is taken and does nothing. */
const ignored = async () => {};
/** A chmod that is refused as vfat refuses one (EPERM, although this user owns the folder). */
const refused = async () => {
  throw fsError('EPERM', -1);
};

test('a store folder whose chmod is taken without effect is used, its open mode reported, not claimed closed', async () => {
  const db = join(dir(), 'db');
  await mkdir(db);
  await chmod(db, 0o755);
  expect(await prepareStoreFolder(db, withoutModes(ignored))).toEqual({ made: false, openMode: 0o755 });
});

test('a store folder of this user whose chmod is refused (EPERM, ENOTSUP) is used, its open mode reported', async () => {
  const db = join(dir(), 'db');
  await mkdir(db);
  await chmod(db, 0o750);
  expect(await prepareStoreFolder(db, withoutModes(refused))).toEqual({ made: false, openMode: 0o750 });
  const unsupported = async () => {
    throw fsError('ENOTSUP', -95);
  };
  expect(await prepareStoreFolder(db, withoutModes(unsupported))).toEqual({ made: false, openMode: 0o750 });
});

test('a store folder made on such a file system is reported open on the first start too', async () => {
  const db = join(dir(), 'db');
  expect(await prepareStoreFolder(db, withoutModes(refused))).toEqual({ made: true, openMode: 0o755 });
  expect((await stat(db)).isDirectory()).toBe(true);
});

test('other chmod failures still refuse the start, saying what to run; a real chmod still closes the folder', async () => {
  const db = join(dir(), 'db');
  await mkdir(db);
  await chmod(db, 0o755);
  const readOnly = async () => {
    throw fsError('EROFS', -30);
  };
  const err = await prepareStoreFolder(db, withoutModes(readOnly)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StartError);
  expect(err).toHaveProperty('message', `the store's folder ${db} is open to group or others (mode 755) and cannot be made 0700 (EROFS: read-only file system); run: chmod 700 ${db}`);
  expect(await prepareStoreFolder(db)).toEqual({ made: false, tightenedMode: 0o755 });
  expect((await stat(db)).mode % 0o1000).toBe(0o700);
  expect(await prepareStoreFolder(join(dir(), 'new'))).toEqual({ made: true });
});

test('a closed store folder this user may not read and write in is refused before LevelDB opens it, saying what to run', async () => {
  // As a start as root leaves one for the service user (root's, 0700): the
  // refusal of access is stood in for, as a test run as root gets none.
  const db = join(dir(), 'db');
  await mkdir(db, { mode: 0o700 });
  const denied = async () => {
    throw fsError('EACCES', -13);
  };
  const err = await prepareStoreFolder(db, { mkdir, stat, chmod, access: denied }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StartError);
  // This user's own folder, whose mode lets its owner in: chmod would change nothing.
  expect(err).toHaveProperty(
    'message',
    `this user may not read and write in the store's folder ${db} (mode 700; EACCES: permission denied), so the log's store cannot be opened; ` +
      'its mode lets its owner in, so an ACL or a security module (SELinux, AppArmor) denies it: see what they allow',
  );
  // One whose mode keeps its owner out: chmod 700 is the fix.
  const closed = join(dir(), 'closed');
  await mkdir(closed, { mode: 0o500 });
  const refused = await prepareStoreFolder(closed, { mkdir, stat, chmod, access: denied }).catch((e: unknown) => e);
  expect(refused).toHaveProperty('message', `this user may not read and write in the store's folder ${closed} (mode 500; EACCES: permission denied), so the log's store cannot be opened; run: chmod 700 ${closed}`);
  // A read-only file system: neither chmod nor chown would help.
  const readOnly = async () => {
    throw fsError('EROFS', -30);
  };
  const mounted = await prepareStoreFolder(db, { mkdir, stat, chmod, access: readOnly }).catch((e: unknown) => e);
  expect(mounted).toHaveProperty('message', `the store's folder ${db} is on a read-only file system (EROFS: read-only file system), and serve writes the log's store there: mount it read-write`);
});

test('the start-up lines warn that the store folder stays open', () => {
  const facts = { dataFolder: '/mnt/usb/cairn', storeFolder: '/mnt/usb/cairn/db', keyFile: '/mnt/usb/cairn/log.key', madeStore: false, newLog: false, madeKey: false, placeholderOrigin: false };
  expect(startupWarnings({ ...facts, openStoreMode: 0o755 })).toEqual([
    "the store's folder /mnt/usb/cairn/db is open to group or others (mode 755) and its mode cannot be changed (a file system without Unix modes, such as vfat or some network shares?): " +
      "other users may be able to read the log's files; keep the data folder where only this user can reach it",
  ]);
});
