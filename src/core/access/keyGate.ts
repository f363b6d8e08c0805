// The door of a keyed catalog: decides whether a request lies inside `/<KEY>/` and, when it does, hands the router the
// target as if the key folder were the catalog root. Everything outside is answered 404 by the server (not 403, so a
// scan cannot tell a keyed server from a missing file); this class says which of those misses deserve a log line.

import { CatalogKey, maskKey } from './catalogKey';
import { MissLimiter, type MissLimiterOptions } from './missLimiter';
import { isTargetRefusal, splitCatalogPath, type ParsedTarget, type TargetRefusal } from '../http/requestTarget';

export interface GateDecision {
  /** The target below the key folder, or undefined when the request lies outside it. */
  target?: ParsedTarget;
  /** One log line when one is due: the first miss of a client, the start or the end of its rate limit. */
  log?: string;
}

export class KeyGate {
  private readonly key: CatalogKey;
  private readonly misses: MissLimiter;

  constructor(key: string, limits: Partial<MissLimiterOptions> = {}) {
    this.key = new CatalogKey(key);
    this.misses = new MissLimiter(limits);
  }

  /** Client addresses whose misses are remembered (bounded). */
  get rememberedClients(): number {
    return this.misses.size;
  }

  /**
   * Decides for one request; `target` is the parsed request target (a refusal counts as outside), `request` the
   * redacted request line for the log.
   */
  pass(remoteAddress: string, target: ParsedTarget | TargetRefusal, request: string): GateDecision {
    const verdict = this.misses.before(remoteAddress);
    if (verdict.kind === 'limited') return {};
    const recovered =
      verdict.kind === 'recovered'
        ? `${remoteAddress}: rate limit over (${verdict.refusedWhileLimited} request(s) answered 404 meanwhile)`
        : undefined;
    const inside = isTargetRefusal(target) ? undefined : this.strip(target);
    if (inside) return { target: inside, log: recovered };
    const record = this.misses.miss(remoteAddress);
    switch (record.kind) {
      case 'first':
        return {
          log:
            `${remoteAddress} ${request} 404: outside the catalog key folder (a missing or wrong key; ` +
            'further misses from this address are counted, not logged)',
        };
      case 'now-limited':
        return {
          log:
            `${remoteAddress}: ${record.misses} requests outside the catalog key folder: rate-limited, ` +
            'every request from it is answered 404 for a while',
        };
      case 'counted':
        return { log: recovered };
    }
  }

  /**
   * The request target for people to read: the key becomes `<key>`, anything in its place (a wrong key) shows only
   * its first characters, so neither the key nor a near miss of it reaches a log or a view.
   */
  redact(rawTarget: string): string {
    const question = rawTarget.indexOf('?');
    const path = question === -1 ? rawTarget : rawTarget.slice(0, question);
    const query = question === -1 ? undefined : rawTarget.slice(question + 1);
    const segments = path.split('/');
    const first = segments.findIndex((s) => s !== '' && s !== '.');
    if (first === -1) return rawTarget;
    if (segments[first] === '_catalog' && query !== undefined) {
      const redactedQuery = query.replace(/(^|&)(path=)([^&#]*)/, (_m, lead: string, name: string, value: string) => {
        const parts = value.split('/');
        const at = parts.findIndex((s) => s !== '' && s !== '.');
        if (at !== -1) parts[at] = this.hide(parts[at]!);
        return `${lead}${name}${parts.join('/')}`;
      });
      return `${path}?${redactedQuery}`;
    }
    segments[first] = this.hide(segments[first]!);
    return segments.join('/') + (query === undefined ? '' : `?${query}`);
  }

  private hide(segment: string): string {
    if (this.key.matches(segment)) return '<key>';
    // A dot never occurs in a key: `/fw.bin` is a device without a key, worth reading in full.
    return segment.includes('.') || segment.length <= 2 ? segment : maskKey(segment);
  }

  /** The target below the key folder, or undefined when it is not inside it. */
  private strip(target: ParsedTarget): ParsedTarget | undefined {
    const [head, ...rest] = target.segments;
    if (head === '_catalog' && rest.length === 0) {
      const params = new URLSearchParams(target.query);
      const split = splitCatalogPath(params.get('path') || '.');
      if (isTargetRefusal(split)) return undefined;
      const [folder, ...below] = split.segments;
      if (!this.key.matches(folder)) return undefined;
      params.set('path', below.length ? below.join('/') : '.');
      return { segments: target.segments, query: params.toString() };
    }
    if (!this.key.matches(head)) return undefined;
    return { segments: rest, query: target.query };
  }
}
