// Text views of node records for the CLI (pure).
import type { FirmwareKind, NodeRecord, TimelineStep } from './model.js';

export interface NodeSummary {
  id: string;
  known: boolean;
  state: string;
  generation: number;
  macs: string[];
  ip?: string;
  firmware?: FirmwareKind;
  lastStep?: { at: string; step: string };
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

export function formatNodeTable(nodes: readonly NodeSummary[], now: Date): string {
  if (nodes.length === 0) return 'no nodes seen yet\n';
  const rows = [['NODE', 'STATE', 'GEN', 'IP', 'MAC', 'LAST STEP', 'AGE']];
  for (const n of nodes)
    rows.push([n.id + (n.known ? '' : ' (unknown)'), n.state, String(n.generation), n.ip ?? '-', n.macs[0] ?? '-', n.lastStep?.step ?? '-', n.lastStep ? age(n.lastStep.at, now) : '-']);
  return table(rows);
}

function detailText(step: TimelineStep): string {
  return Object.entries(step.detail)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

export function formatTimeline(record: NodeRecord): string {
  const head = `node ${record.id}${record.known ? '' : ' (not in the manifest)'}: ${record.state}, generation ${record.generation}, MACs ${record.macs.join(', ')}\n`;
  const facts = Object.entries(record.facts).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const rows = [['TIME', 'STEP', 'DETAIL'], ...record.timeline.map((s) => [s.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), s.step, detailText(s)])];
  return head + (facts ? `facts: ${facts}\n` : '') + table(rows);
}
