// Path containment, shared by the catalog (links must not lead out of it) and the publisher (outputs, build folders).

import * as path from 'node:path';

/** Whether `file` lies strictly below `dir` (a child named `..cache` is below; `../x` is not). */
export function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** `dir` itself or anything below it. */
export function isSameOrInside(dir: string, file: string): boolean {
  return path.relative(dir, file) === '' || isInside(dir, file);
}
