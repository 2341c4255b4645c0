// Text views of node records for the CLI (pure).
import { NO_PAINT, table, type Paint } from '../cli/term.js';
import type { ConsoleLine } from '../console/lines.js';
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

/** Time from `from` (ISO) to `now` as the CLI prints it: 45s, 12m, 3h. */
export function age(from: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** Red where an operator is needed, green where the node is done, dim where nothing has happened yet. */
export function paintState(state: string, p: Paint): string {
  switch (state) {
    case 'failed':
    case 'held':
      return p.red(state);
    case 'installed':
    case 'handed-over':
    case 'decommissioned':
      return p.green(state);
    case 'never-seen':
    case 'discovered':
      return p.dim(state);
    default:
      return p.yellow(state);
  }
}

const clipped = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** failed(step) and held show where; a busy node shows its step and try; idle nodes a dash. */
function stepCell(n: NodeSummary): string {
  const l = n.lifecycle;
  if (!l) return '-';
  if (l.step) return l.attempt > 1 ? `${l.step} (try ${l.attempt})` : l.step;
  return l.failure?.step ? `${n.state} at ${l.failure.step}` : '-';
}

export function formatNodeTable(nodes: readonly NodeSummary[], now: Date, p: Paint = NO_PAINT): string {
  if (nodes.length === 0) return 'no nodes: the manifest names none and no machine has sent a DHCP request yet\n';
  const rows = [['NODE', 'STATE', 'GEN', 'IP', 'MAC', 'STEP', 'IN STEP', 'LAST STEP', 'AGE', 'LAST ERROR']];
  for (const n of nodes) {
    const l = n.lifecycle;
    const error = l?.failure?.reason ?? l?.lastError;
    rows.push([
      n.id + (n.known ? '' : ' (unknown)'),
      paintState(n.state, p),
      String(n.generation),
      n.ip ?? '-',
      n.macs[0] ?? '-',
      stepCell(n),
      l?.step ? age(l.since, now) : '-',
      n.lastStep?.step ?? '-',
      n.lastStep ? age(n.lastStep.at, now) : '-',
      error ? p.red(clipped(error, 60)) : '-',
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
function lifecycleLine(record: Pick<NodeRecord, 'lifecycle'> & { state: string }): string {
  const l = record.lifecycle;
  if (!l) return '';
  const parts = [l.step ? `step ${l.step}, try ${l.attempt}, since ${l.since}` : 'idle'];
  if (l.failure) parts.push(`${record.state}${l.failure.step ? ` at ${l.failure.step}` : ''}: ${l.failure.reason}`);
  else if (l.lastError) parts.push(`last error: ${l.lastError}`);
  return `lifecycle: ${parts.join('; ')}\n`;
}

/** A node's head line, facts, lifecycle and timeline; a never-seen manifest node says so instead of an empty table. */
export function formatTimeline(record: Omit<NodeRecord, 'state'> & { state: string }, p: Paint = NO_PAINT): string {
  const head = `node ${record.id}${record.known ? '' : ' (not in the manifest)'}: ${paintState(record.state, p)}, generation ${record.generation}, MACs ${record.macs.join(', ')}\n`;
  if (record.state === 'never-seen') return head + 'in the manifest; no DHCP request from any of its MACs yet\n';
  const facts = Object.entries(record.facts)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const rows = [['TIME', 'STEP', 'DETAIL'], ...record.timeline.map((s) => [s.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), s.step, detailText(s)])];
  return head + (facts ? `facts: ${facts}\n` : '') + lifecycleLine(record) + table(rows);
}

/** A node's console lines (agent/console), one per line: time, source, level, message. */
export function formatConsole(id: string, lines: readonly ConsoleLine[], dropped: number): string {
  if (lines.length === 0) return `node ${id}: no console lines yet (they arrive once the node's Talos kernel has its network)\n`;
  const head = `node ${id}: ${lines.length} console line(s)${dropped > 0 ? `, ${dropped} older or over-rate line(s) not kept` : ''}\n`;
  return head + lines.map((l) => `${l.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} ${l.source} ${l.level}: ${l.msg}\n`).join('');
}
