import { open } from 'node:fs/promises';

/** Makes what was last created, renamed or removed in `folder` durable (an fsync of the folder). */
export async function syncFolder(folder: string): Promise<void> {
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
