// Every build the server has published or found in the catalog, by its MD5 (and ESP32 app SHA-256), kept after
// retention or a person removed its file: what a board reports running is named by the build, never by whatever
// file carries the name now. Pure bookkeeping; the inventory persists it.

import { MAX_BUILDS, isoSeconds, type StoredBuild } from './deviceState';

/** What is known of a build: the stored record without the time the server first saw it. */
export type BuildFacts = Omit<StoredBuild, 'seenAt'>;

export class BuildHistory {
  private readonly byMd5 = new Map<string, StoredBuild>();
  private readonly bySha = new Map<string, StoredBuild>();
  /** MD5 → catalog entries holding it right now (what "in the catalog" means for a build). */
  private files = new Map<string, string[]>();

  clear(): void {
    this.byMd5.clear();
    this.bySha.clear();
    this.files = new Map();
  }

  /** Restores persisted builds (oldest first keeps insertion order = age order). */
  restore(builds: readonly StoredBuild[]): void {
    for (const build of [...builds].reverse()) this.index({ ...build });
  }

  /** Takes in the builds another process wrote to the state file that this one does not know yet. */
  merge(builds: readonly StoredBuild[]): void {
    for (const build of [...builds].reverse()) if (!this.byMd5.has(build.md5)) this.index({ ...build });
    while (this.byMd5.size > MAX_BUILDS) this.forget(this.byMd5.keys().next().value as string);
  }

  /**
   * Records a build, or adds what is newly known about one (a publish names its project and environment; the
   * catalog scan alone may know only the file). Returns true when something changed.
   */
  remember(facts: BuildFacts, at = Date.now()): boolean {
    const known = this.byMd5.get(facts.md5);
    if (!known) {
      this.index({ ...strip(facts), seenAt: isoSeconds(at) });
      while (this.byMd5.size > MAX_BUILDS) this.forget(this.byMd5.keys().next().value as string);
      return true;
    }
    let changed = false;
    for (const [key, value] of Object.entries(strip(facts)) as Array<[keyof BuildFacts, string | number]>) {
      if (key === 'image') continue; // a build keeps the name it was first published or found as
      if (known[key] !== value) {
        (known as unknown as Record<string, unknown>)[key] = value;
        changed = true;
      }
    }
    if (known.sha256) this.bySha.set(known.sha256, known);
    return changed;
  }

  /** The build with this MD5 or SHA-256 (lower-case hex). */
  identify(hash: string | undefined): StoredBuild | undefined {
    if (!hash) return undefined;
    return this.byMd5.get(hash) ?? this.bySha.get(hash);
  }

  /** Which catalog entries hold a build now; set from the catalog's own index after each change. */
  setCatalogFiles(files: ReadonlyMap<string, string[]>): void {
    this.files = new Map(files);
  }

  /** Catalog entries holding this build now (empty when retention or a person removed it). */
  filesOf(md5: string | undefined): readonly string[] {
    return (md5 && this.files.get(md5)) || [];
  }

  list(): StoredBuild[] {
    return [...this.byMd5.values()].reverse();
  }

  get size(): number {
    return this.byMd5.size;
  }

  private index(build: StoredBuild): void {
    this.byMd5.delete(build.md5);
    this.byMd5.set(build.md5, build);
    if (build.sha256) this.bySha.set(build.sha256, build);
  }

  private forget(md5: string): void {
    const build = this.byMd5.get(md5);
    this.byMd5.delete(md5);
    if (build?.sha256 && this.bySha.get(build.sha256) === build) this.bySha.delete(build.sha256);
  }
}

function strip(facts: BuildFacts): BuildFacts {
  return Object.fromEntries(
    Object.entries(facts).filter(([, v]) => v !== undefined && v !== ''),
  ) as unknown as BuildFacts;
}
