import { open } from 'node:fs/promises';

/**
 * Makes a rename inside `dir` durable (fsync of the folder), for the atomic writes of the catalog, the device state
 * file and the nginx export. Best effort: Windows and some file systems cannot sync a folder, and the rename itself
 * is atomic without it.
 */
export async function syncFolder(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // not possible here: see above
  }
}
