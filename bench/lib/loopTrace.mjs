// Reads what bench/lib/loopTracePreload.cjs wrote for one server and says, for every window (phase), where each late
// loop turn went: the main thread's own CPU (run), time waiting for a core (wait: the machine, not us), GC pauses,
// and the functions the CPU profile sampled in it, mapped through the bundle's source map to src/ files.

import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { basename, join } from 'node:path';

const maps = new Map();
/** Profile urls are file:// urls; heap profile urls are plain paths. */
const fileUrl = (url) => (url?.startsWith('/') ? `file://${url}` : url);

function sourceMapFor(url) {
  if (!url.startsWith('file://') || !url.endsWith('.js')) return undefined;
  if (!maps.has(url)) {
    const file = `${new URL(url).pathname}.map`;
    maps.set(url, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : undefined);
  }
  return maps.get(url);
}

/** "name (src/core/x.ts:12)" for a profile call frame. */
function frameName(cf) {
  const name = cf.functionName || '(anonymous)';
  if (!cf.url) return name;
  const map = sourceMapFor(fileUrl(cf.url));
  const entry = map?.findEntry(cf.lineNumber, cf.columnNumber);
  if (entry?.originalSource) {
    const src = entry.originalSource.replace(/^.*?(node_modules\/|src\/)/, '$1');
    return `${name} (${src}:${entry.originalLine + 1})`;
  }
  return `${name} (${basename(cf.url)}:${cf.lineNumber + 1})`;
}

function isOurs(cf) {
  return fileUrl(cf.url)?.startsWith('file://') && !cf.url.includes('/bench/');
}

function loadWindow(dir, seq) {
  const profileFile = join(dir, `window-${seq}.cpuprofile`);
  const windowFile = join(dir, `window-${seq}.json`);
  if (!existsSync(profileFile) || !existsSync(windowFile)) return undefined;
  const profile = JSON.parse(readFileSync(profileFile, 'utf8'));
  const window = JSON.parse(readFileSync(windowFile, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    samples.push({ t, node: profile.samples[i] });
  }
  for (let i = 0; i < samples.length; i++) samples[i].us = (samples[i + 1]?.t ?? profile.endTime) - samples[i].t;
  const stackOf = (id) => {
    const out = [];
    for (let n = id; n !== undefined; n = parent.get(n)) out.push(nodes.get(n).callFrame);
    return out; // leaf first
  };
  return { window, samples, nodes, stackOf, profile };
}

function top(map, n) {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${(v / 1000).toFixed(1)} ms ${k}`);
}

// perf_hooks constants.NODE_PERFORMANCE_GC_*
const GC_KINDS = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental marking', 8: 'weak callbacks' };

/** Bytes allocated in a window by where (the sampling heap profile, collected objects included). */
function allocations(dir, seq) {
  const file = join(dir, `window-${seq}.heapprofile`);
  if (!existsSync(file)) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const by = new Map();
  let total = 0;
  const visit = (node, stack) => {
    const here = [node.callFrame, ...stack];
    if (node.selfSize > 0) {
      const chain = here.filter(isOurs).slice(0, 3).map(frameName).join(' < ');
      const key = `${frameName(node.callFrame)}${chain ? ` in ${chain}` : ''}`;
      by.set(key, (by.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children ?? []) visit(child, here);
  };
  visit(profile.head, []);
  return { total, by };
}

function topBytes(map, n) {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${(v / 1e6).toFixed(1)} MB ${k}`);
}

/** The text report for one server's windows; `phases` is [{ seq, what }]. */
export function traceReport(dir, phases, { minMs = Number(process.env.ACBENCH_LOOP_TRACE_MS ?? 8) } = {}) {
  const lines = [];
  for (const { seq, what } of phases) {
    const w = loadWindow(dir, seq);
    if (!w) {
      lines.push(`## ${what}: no trace (window ${seq})`);
      continue;
    }
    const { window, samples, stackOf } = w;
    const gcUs = window.gc.reduce((s, g) => s + g.us, 0);
    const gcMax = Math.max(0, ...window.gc.map((g) => g.us));
    const byKind = new Map();
    for (const g of window.gc) {
      const k = GC_KINDS[g.kind] ?? `kind ${g.kind}`;
      const v = byKind.get(k) ?? { n: 0, us: 0, max: 0 };
      byKind.set(k, { n: v.n + 1, us: v.us + g.us, max: Math.max(v.max, g.us) });
    }
    const kinds = [...byKind].map(
      ([k, v]) => `${k} ${v.n}× ${(v.us / 1000).toFixed(1)} ms (longest ${(v.max / 1000).toFixed(1)})`,
    );
    lines.push(
      `## ${what} (window ${seq}): ${window.late.length} late turns > 4 ms; GC ${window.gc.length} pauses, ${(gcUs / 1000).toFixed(1)} ms in all, longest ${(gcMax / 1000).toFixed(1)} ms${kinds.length ? `: ${kinds.join(', ')}` : ''}`,
    );
    // each turn of minMs or more, by what most of it was: the main thread's own work, a wait for a core, a GC pause
    const cause = (l) => {
      const wall = l.endUs - l.startUs;
      const gcIn = window.gc
        .filter((g) => g.startUs < l.endUs && g.startUs + g.us > l.startUs)
        .reduce((s, g) => s + g.us, 0);
      if (l.waitUs >= wall / 2) return 'waiting for a core';
      if (gcIn >= wall / 2) return 'GC';
      if (l.runUs >= wall / 2) return 'our code';
      return 'mixed';
    };
    const counts = new Map();
    for (const l of window.late.filter((l) => l.endUs - l.startUs >= minMs * 1000))
      counts.set(cause(l), (counts.get(cause(l)) ?? 0) + 1);
    lines.push(
      `  turns of ${minMs} ms or more by cause: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    );
    // the whole window's busy CPU by our deepest frame
    const whole = new Map();
    for (const s of samples) {
      const stack = stackOf(s.node);
      const leaf = stack[0];
      if (leaf.functionName === '(idle)') continue;
      const ours = stack.find(isOurs);
      const key = leaf.url ? frameName(ours ?? leaf) : `${leaf.functionName} in ${ours ? frameName(ours) : '-'}`;
      whole.set(key, (whole.get(key) ?? 0) + s.us);
    }
    lines.push(`  window busy by frame: ${top(whole, 6).join('; ')}`);
    const alloc = allocations(dir, seq);
    if (alloc)
      lines.push(
        `  allocated ${(alloc.total / 1e6).toFixed(1)} MB (sampled), by frame: ${topBytes(alloc.by, 8).join('; ')}`,
      );
    // The turns where the main thread itself ran longest first: those are ours to shorten, whatever the machine did.
    const long = window.late
      .filter((l) => l.endUs - l.startUs >= minMs * 1000 || l.runUs >= (minMs * 1000) / 2)
      .sort((a, b) => b.runUs - a.runUs);
    for (const l of long.slice(0, 30)) {
      const inside = samples.filter((s) => s.t >= l.startUs && s.t < l.endUs);
      const self = new Map();
      const oursMap = new Map();
      let gapUs = 0;
      for (const s of inside) {
        const stack = stackOf(s.node);
        const leaf = stack[0];
        if (s.us > 2000) gapUs += s.us;
        self.set(frameName(leaf), (self.get(frameName(leaf)) ?? 0) + s.us);
        const ours = stack.find(isOurs);
        const chain = stack
          .filter(isOurs)
          .slice(0, 4)
          .map((cf) => frameName(cf))
          .join(' < ');
        const key = ours ? chain : `(${leaf.functionName})`;
        oursMap.set(key, (oursMap.get(key) ?? 0) + s.us);
      }
      const gcIn = window.gc.filter((g) => g.startUs < l.endUs && g.startUs + g.us > l.startUs);
      lines.push(
        `  - ${((l.endUs - l.startUs) / 1000).toFixed(1)} ms late turn (${cause(l)}): main thread ran ${(l.runUs / 1000).toFixed(1)} ms, waited for a core ${(l.waitUs / 1000).toFixed(1)} ms; GC pauses in it ${(gcIn.reduce((s, g) => s + g.us, 0) / 1000).toFixed(1)} ms; ${inside.length} samples (${(gapUs / 1000).toFixed(1)} ms in sampling gaps > 2 ms)`,
      );
      lines.push(`      self: ${top(self, 4).join('; ')}`);
      lines.push(`      ours: ${top(oursMap, 4).join('; ')}`);
    }
  }
  return lines.join('\n');
}
