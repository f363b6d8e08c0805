// Short references inside the device state file (format 2). An update names the build it was about by the first hex
// digits of the build's MD5, the way git abbreviates a commit: at least 8, more where two builds of the file share a
// prefix. A 32-digit MD5 is always the MD5 itself (a board may report one that is no build). Reasons that recur are
// written once, in `reasons`, and referred to by their index.

/** Fewest hex digits of a reference. */
export const MIN_REF_DIGITS = 8;

const PREFIX = /^[0-9a-f]{8,31}$/;

/** For each MD5, the shortest prefix of at least MIN_REF_DIGITS that no other MD5 of the list starts with. */
export function buildRefs(md5s: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(md5s)].sort();
  const refs = new Map<string, string>();
  for (let i = 0; i < sorted.length; i++) {
    const md5 = sorted[i]!;
    const shared = Math.max(commonPrefix(sorted[i - 1], md5), commonPrefix(md5, sorted[i + 1]));
    refs.set(md5, md5.slice(0, Math.max(MIN_REF_DIGITS, shared + 1)));
  }
  return refs;
}

/** Resolves references of the file back to its builds' MD5s. */
export class BuildRefIndex {
  private readonly byHead = new Map<string, string[]>();
  /** A fleet refers to few builds, thousands of times. */
  private readonly resolved = new Map<string, string | undefined>();

  constructor(md5s: Iterable<string>) {
    for (const md5 of md5s) {
      const head = md5.slice(0, MIN_REF_DIGITS);
      const list = this.byHead.get(head);
      if (list) list.push(md5);
      else this.byHead.set(head, [md5]);
    }
  }

  /** The MD5 a reference stands for: a full MD5 as it is, a prefix naming exactly one build, else undefined. */
  resolve(value: unknown): string | undefined {
    if (typeof value !== 'string') return undefined;
    const ref = value.toLowerCase();
    if (ref.length === 32) return /^[0-9a-f]{32}$/.test(ref) ? ref : undefined;
    if (this.resolved.has(ref)) return this.resolved.get(ref);
    if (!PREFIX.test(ref)) return undefined;
    const candidates = this.byHead.get(ref.slice(0, MIN_REF_DIGITS))?.filter((md5) => md5.startsWith(ref));
    const md5 = candidates?.length === 1 ? candidates[0] : undefined;
    this.resolved.set(ref, md5);
    return md5;
  }
}

/** Reasons used more than once, most used first: the file's `reasons` table, and each one's index in it. */
export function reasonTable(reasons: Iterable<string>): { table: string[]; index: Map<string, number> } {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  const table = [...counts]
    .filter(([, n]) => n > 1)
    .sort((a, b) => b[1] - a[1])
    .map(([reason]) => reason);
  return { table, index: new Map(table.map((reason, i) => [reason, i])) };
}

function commonPrefix(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined) return 0;
  let n = 0;
  while (n < a.length && a[n] === b[n]) n++;
  return n;
}
