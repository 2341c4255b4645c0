// What the agent announces over mDNS/DNS-SD (RFC 6762, RFC 6763): its names and its resource
// records, built by pure functions from the config. No socket, no clock.
import type { Answer, StringAnswer, SrvAnswer, TxtAnswer } from 'dns-packet';

/** RFC 6763 §7: the service type; `_tcp` since the agent's API is HTTP. */
export const SERVICE_TYPE = '_maskin-agent._tcp.local';
/** RFC 6763 §9: browsing for service types. */
export const SERVICE_TYPES = '_services._dns-sd._udp.local';
/** RFC 6762 §10: 120 s for records that name a host (SRV, A), 75 minutes for the others. */
export const HOST_TTL = 120;
export const OTHER_TTL = 4500;
/** RFC 6763 §4.1.1: an instance name is one label, at most 63 bytes. */
export const MAX_LABEL_BYTES = 63;
/** RFC 6763 §6.1: each TXT string is at most 255 bytes. */
export const MAX_TXT_ENTRY_BYTES = 255;

export interface Identity {
  readonly agentId: string;
  readonly rackId?: string;
  /** The agent's package version. */
  readonly version: string;
}

/** The longest prefix of `text` that fits in `max` bytes of UTF-8, never cutting a character. */
export function truncateUtf8(text: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > max) break;
    out += ch;
    bytes += size;
  }
  return out;
}

/**
 * The default instance name, `maskin-agent <agentId> (<rackId>)`: what an operator sees in a
 * browser. Dots become `-` (dns-packet cannot escape a dot inside a label), control characters go.
 */
export function instanceNameFor(agentId: string, rackId?: string): string {
  const clean = (s: string): string => s.replace(/[.\\]/g, '-').replace(/[\u0000-\u001f\u007f]/g, '');
  return truncateUtf8(`maskin-agent ${clean(agentId)}${rackId === undefined ? '' : ` (${clean(rackId)})`}`, MAX_LABEL_BYTES).trimEnd();
}

/**
 * The host label the SRV record points at, `maskin-<agentId>[-<rackId>]` in LDH form (RFC 952
 * letters, digits, hyphen): not the machine's host name, so it never contends with a host
 * responder (avahi) announcing `<hostname>.local`.
 */
export function hostLabelFor(agentId: string, rackId?: string): string {
  const ldh = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '');
  const parts = ['maskin', ldh(agentId), ...(rackId === undefined ? [] : [ldh(rackId)])].filter((p) => p !== '');
  return parts.join('-').slice(0, MAX_LABEL_BYTES).replace(/-$/, '');
}

/** RFC 6763 §6: key=value strings, `txtvers` first (§6.7); the rack only when the agent has one. */
export function txtFor(id: Identity): string[] {
  return ['txtvers=1', `id=${id.agentId}`, ...(id.rackId === undefined ? [] : [`rack=${id.rackId}`]), `version=${id.version}`];
}

/** The TXT entries over 255 bytes, which no TXT record can carry (config refuses them). */
export function oversizedTxt(id: Identity): string[] {
  return txtFor(id).filter((entry) => Buffer.byteLength(entry) > MAX_TXT_ENTRY_BYTES);
}

export interface Announced {
  /** `<instance>._maskin-agent._tcp.local` */
  readonly serviceName: string;
  /** `<host>.local` */
  readonly hostName: string;
  /** Every record this agent answers for on one interface, in answer order. */
  readonly records: readonly Answer[];
}

/**
 * The records for one interface: its own IPv4 address in the A record, so an answer never names
 * an address of another NIC. PTRs are shared records; SRV, TXT and A are unique to this agent and
 * carry the cache-flush bit (RFC 6762 §10.2).
 */
export function announcedRecords(opts: { instanceName: string; identity: Identity; port: number; address: string }): Announced {
  const serviceName = `${opts.instanceName}.${SERVICE_TYPE}`;
  const hostName = `${hostLabelFor(opts.identity.agentId, opts.identity.rackId)}.local`;
  const types: StringAnswer = { name: SERVICE_TYPES, type: 'PTR', class: 'IN', ttl: OTHER_TTL, data: SERVICE_TYPE };
  const ptr: StringAnswer = { name: SERVICE_TYPE, type: 'PTR', class: 'IN', ttl: OTHER_TTL, data: serviceName };
  const srv: SrvAnswer = {
    name: serviceName,
    type: 'SRV',
    class: 'IN',
    ttl: HOST_TTL,
    flush: true,
    data: { priority: 0, weight: 0, port: opts.port, target: hostName },
  };
  const txt: TxtAnswer = { name: serviceName, type: 'TXT', class: 'IN', ttl: OTHER_TTL, flush: true, data: txtFor(opts.identity) };
  const a: StringAnswer = { name: hostName, type: 'A', class: 'IN', ttl: HOST_TTL, flush: true, data: opts.address };
  return { serviceName, hostName, records: [types, ptr, srv, txt, a] };
}

/** RFC 6762 §10.1: the same records with TTL 0, sent when the agent stops. */
export function goodbye(records: readonly Answer[]): Answer[] {
  return records.map((r) => ({ ...r, ttl: 0 }) as Answer);
}

/** One key per record (name, type, data), for rate limits and known-answer matching. */
export function recordKey(r: Answer): string {
  const data = (r as { data?: unknown }).data;
  const text =
    typeof data === 'string'
      ? data.toLowerCase()
      : Array.isArray(data)
        ? data.map((d) => (Buffer.isBuffer(d) ? d : Buffer.from(String(d))).toString('latin1')).join('\u0000')
        : Buffer.isBuffer(data)
          ? data.toString('latin1')
          : r.type === 'SRV'
            ? `${(data as SrvAnswer['data']).port} ${(data as SrvAnswer['data']).target.toLowerCase()}`
            : JSON.stringify(data);
  return `${r.name.toLowerCase()}|${r.type}|${text}`;
}
