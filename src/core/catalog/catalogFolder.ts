// Creating the catalog folder (only the Catalog calls this). The default one lives under `.autoconnect/`, which gets a
// .gitignore so built firmware is not committed with the project.

import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export async function ensureCatalogFolder(catalogDir: string, gitignore = true): Promise<void> {
  await mkdir(catalogDir, { recursive: true });
  const parent = dirname(catalogDir);
  if (!gitignore || !parent.endsWith('.autoconnect')) return;
  const ignore = join(parent, '.gitignore');
  try {
    await access(ignore);
  } catch {
    await writeFile(ignore, '# AutoConnect update server catalog: firmware images are build outputs\n*\n');
  }
}
