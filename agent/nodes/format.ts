// Text views of node records for the CLI (pure).
import type { FirmwareKind, ProvisionStep, NodeRecord, TimelineStep } from './model.js';

export interface NodeSummary {
  id: string;
  known: boolean;
  state: string;
  generation: number;
  macs: string[];
  ip?: string;
  firmware?: FirmwareKind;
  lastStep?: { at: string; step: string };
  /** Nodes with a BMC: what the lifecycle executor is doing, since when, which try, what went wrong last. */
  lifecycle?: { step?: ProvisionStep; since: string; attempt: number; lastError?: string; failure?: { step?: ProvisionStep; reason: string } };
}

function age(from: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const clipped = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** failed(step) and held show where; a busy node shows its step and try; idle nodes a dash. */
function stepCell(n: NodeSummary): string {
  const l = n.lifecycle;
  if (!l) return '-';
  if (l.step) return l.attempt > 1 ? `${l.step} (try ${l.attempt})` : l.step;
  return l.failure?.step ? `${n.state} at ${l.failure.step}` : '-';
}

export function formatNodeTable(nodes: readonly NodeSummary[], now: Date): string {
  if (nodes.length === 0) return 'no nodes seen yet\n';
  const rows = [['NODE', 'STATE', 'GEN', 'IP', 'MAC', 'STEP', 'IN STEP', 'LAST STEP', 'AGE', 'LAST ERROR']];
  for (const n of nodes) {
    const l = n.lifecycle;
    const error = l?.failure?.reason ?? l?.lastError;
    rows.push([
      n.id + (n.known ? '' : ' (unknown)'), n.state, String(n.generation), n.ip ?? '-', n.macs[0] ?? '-',
      stepCell(n), l?.step ? age(l.since, now) : '-',
      n.lastStep?.step ?? '-', n.lastStep ? age(n.lastStep.at, now) : '-',
      error ? clipped(error, 60) : '-',
    ]);
  }
  return table(rows);
}

function detailText(step: TimelineStep): string {
  return Object.entries(step.detail)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

/** `lifecycle: step netboot, try 2, since …; last error: …` (or `idle; failed at power: why`); empty without a BMC. */
function lifecycleLine(record: NodeRecord): string {
  const l = record.lifecycle;
  if (!l) return '';
  const parts = [l.step ? `step ${l.step}, try ${l.attempt}, since ${l.since}` : 'idle'];
  if (l.failure) parts.push(`${record.state}${l.failure.step ? ` at ${l.failure.step}` : ''}: ${l.failure.reason}`);
  else if (l.lastError) parts.push(`last error: ${l.lastError}`);
  return `lifecycle: ${parts.join('; ')}\n`;
}

export function formatTimeline(record: NodeRecord): string {
  const head = `node ${record.id}${record.known ? '' : ' (not in the manifest)'}: ${record.state}, generation ${record.generation}, MACs ${record.macs.join(', ')}\n`;
  const facts = Object.entries(record.facts).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const rows = [['TIME', 'STEP', 'DETAIL'], ...record.timeline.map((s) => [s.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), s.step, detailText(s)])];
  return head + (facts ? `facts: ${facts}\n` : '') + lifecycleLine(record) + table(rows);
}

export interface StatusView {
  agentId: string;
  rackId?: string;
  nodes: number;
  manifest?: { source: string; version?: number; appliedAt?: string; issuedAt?: string; keyId?: string; nodes: number; lastRejection?: { at: string; source: string; code: string; message: string } };
  pull?: { lastResult?: string; lastAttemptAt?: number; lastSuccessAt?: number; lastError?: string; consecutiveFailures?: number };
  outbox?: { depth: number; oldestSeq?: string; oldestAt?: number; evicted: number };
  reporter?: { lastSuccessAt?: number; lastError?: string; consecutiveFailures?: number };
}

const ago = (ms: number | string | undefined, now: Date): string => {
  if (ms === undefined) return 'never';
  const t = typeof ms === 'string' ? Date.parse(ms) : ms;
  return `${age(new Date(t).toISOString(), now)} ago`;
};

export function formatStatus(s: StatusView, now: Date): string {
  const m = s.manifest;
  const lines = [
    `agent ${s.agentId}${s.rackId ? `, rack ${s.rackId}` : ''}: ${s.nodes} node record(s)`,
    m
      ? `manifest: ${m.version !== undefined ? `version ${m.version}` : 'unversioned'} from ${m.source}${m.keyId ? ` (key ${m.keyId})` : ''}, ${m.nodes} node(s), applied ${ago(m.appliedAt, now)}${m.issuedAt ? `, issued ${ago(m.issuedAt, now)}` : ''}`
      : 'manifest: (no uplink status)',
  ];
  if (m?.lastRejection) lines.push(`  last rejected: ${m.lastRejection.code} via ${m.lastRejection.source}, ${ago(m.lastRejection.at, now)}: ${m.lastRejection.message.split('\n')[0]}`);
  if (s.pull) lines.push(`pull: last ${s.pull.lastResult ?? 'none yet'} ${ago(s.pull.lastAttemptAt, now)}, last success ${ago(s.pull.lastSuccessAt, now)}${s.pull.consecutiveFailures ? `, ${s.pull.consecutiveFailures} failure(s) in a row: ${s.pull.lastError ?? ''}` : ''}`);
  if (s.outbox) lines.push(`outbox: ${s.outbox.depth} report(s) queued${s.outbox.oldestAt !== undefined ? `, oldest ${ago(s.outbox.oldestAt, now)} (seq ${s.outbox.oldestSeq})` : ''}, ${s.outbox.evicted} evicted`);
  if (s.reporter) lines.push(`reports: last delivered ${ago(s.reporter.lastSuccessAt, now)}${s.reporter.consecutiveFailures ? `, ${s.reporter.consecutiveFailures} failure(s) in a row: ${s.reporter.lastError ?? ''}` : ''}`);
  return lines.join('\n') + '\n';
}

export interface CacheView {
  totalBytes: number;
  limitBytes: number;
  blobs: number;
  readiness: Record<string, boolean>;
  assets: { assetPath: string; profile: string; kind: string; digest: string; state: string; received?: number; total?: number; error?: string }[];
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;

/** `maskin-agent cache status`: per pinned image its state, with a progress bar on a terminal. */
export function formatCache(c: CacheView, opts: { bars: boolean }): string {
  const lines = [`cache: ${c.blobs} blob(s), ${mb(c.totalBytes)} of ${mb(c.limitBytes)}`];
  for (const [profile, ready] of Object.entries(c.readiness)) lines.push(`profile ${profile}: ${ready ? 'ready' : 'not ready'}`);
  if (c.assets.length === 0) lines.push('no images pinned by the manifest');
  for (const a of c.assets) {
    let state = a.state;
    if (a.state === 'downloading' && a.total) {
      const share = Math.min(1, (a.received ?? 0) / a.total);
      const bar = opts.bars ? ` [${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')}]` : '';
      state = `downloading${bar} ${Math.floor(share * 100)}% of ${mb(a.total)}`;
    } else if (a.state === 'downloading') {
      state = `downloading ${mb(a.received ?? 0)}`;
    } else if (a.state === 'failed') {
      state = `failed: ${a.error ?? ''}`;
    }
    lines.push(`  ${a.profile}  ${a.assetPath.split('/').pop()}  ${a.digest.slice(0, 19)}…  ${state}`);
  }
  return lines.join('\n') + '\n';
}
