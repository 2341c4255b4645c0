// The mDNS responder's decisions (RFC 6762), pure: which datagrams to look at, what to answer and
// how (multicast, unicast, legacy unicast), what counts as a name conflict. The transport
// (responder.ts) only sequences I/O around these.
import { AUTHORITATIVE_ANSWER, type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import { inSubnet, ipToInt, type Subnet } from '../net/ipv4.js';
import { recordKey } from './records.js';

export const MDNS_PORT = 5353;
/** RFC 6762 §6.7: TTLs in legacy unicast answers are at most 10 s. */
export const LEGACY_TTL = 10;
/** RFC 6762 §6: a record is multicast on an interface at most once per second. */
export const MULTICAST_INTERVAL_MS = 1000;

export interface Arrival {
  readonly address: string;
  readonly port: number;
}

/** One interface the agent announces on: its IPv4 address and the subnet it is on. */
export interface Link {
  readonly address: string;
  readonly subnet: Subnet;
}

export type Admission = 'ok' | 'own' | 'foreign-source';

/**
 * Only datagrams from the interface's own subnet are looked at. On Linux a socket bound to
 * 0.0.0.0:5353 also gets datagrams that arrived on other NICs (IP_MULTICAST_ALL, and unicast to
 * any local address), the provisioning NIC among them; a source outside this link's subnet is such
 * a datagram (or a spoofed one) and is never answered, so no answer is routed to the provisioning
 * network. Our own multicast comes back over loopback and is not a peer either.
 */
export function admit(from: Arrival, link: Link, own: ReadonlySet<string>, provisioning: Subnet): Admission {
  if (own.has(from.address)) return 'own';
  let ip: number;
  try {
    ip = ipToInt(from.address);
  } catch {
    return 'foreign-source';
  }
  if (!inSubnet(ip, link.subnet) || inSubnet(ip, provisioning)) return 'foreign-source';
  return 'ok';
}

/** Whether a question is of class IN (or ANY), and whether its QU bit (RFC 6762 §5.4) is set. */
export function questionClass(q: Question): { readonly inClass: boolean; readonly qu: boolean } {
  // dns-packet leaves the QU bit in the class: 0x8001 decodes as UNKNOWN_32769, 0x80ff as UNKNOWN_33023.
  switch (q.class as string | undefined) {
    case undefined:
    case 'IN':
    case 'ANY':
      return { inClass: true, qu: false };
    case 'UNKNOWN_32769':
    case 'UNKNOWN_33023':
      return { inClass: true, qu: true };
    default:
      return { inClass: false, qu: false };
  }
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const ttlOf = (r: Answer): number => (r as { ttl?: number }).ttl ?? 0;

/** Our records answering one question. */
export function matching(q: Question, records: readonly Answer[]): Answer[] {
  return records.filter((r) => sameName(r.name, q.name) && ((q.type as string) === 'ANY' || q.type === r.type));
}

/** RFC 6763 §12: with a PTR to our instance, its SRV, TXT and A; with an SRV, the A of its target. */
export function additionalsFor(answers: readonly Answer[], records: readonly Answer[]): Answer[] {
  const names = new Set<string>();
  for (const a of answers) {
    if (a.type === 'PTR') names.add(a.data.toLowerCase());
    if (a.type === 'SRV') names.add(a.data.target.toLowerCase());
  }
  for (const r of records) if (r.type === 'SRV' && names.has(r.name.toLowerCase())) names.add(r.data.target.toLowerCase());
  const given = new Set(answers.map(recordKey));
  return records.filter((r) => r.type !== 'PTR' && names.has(r.name.toLowerCase()) && !given.has(recordKey(r)));
}

/** RFC 6762 §7.1: answers the querier already holds with at least half our TTL are left out. */
export function withoutKnownAnswers(answers: readonly Answer[], known: readonly Answer[] = []): Answer[] {
  const held = new Map<string, number>();
  for (const k of known) held.set(recordKey(k), Math.max(held.get(recordKey(k)) ?? 0, ttlOf(k)));
  return answers.filter((a) => (held.get(recordKey(a)) ?? -1) < ttlOf(a) / 2);
}

export type Decision =
  | { readonly kind: 'none'; readonly reason: 'not-a-query' | 'not-ours' | 'known' | 'rate-limited' }
  /** RFC 6762 §6.7: a resolver that is not an mDNS responder (source port not 5353). */
  | { readonly kind: 'legacy-unicast'; readonly to: Arrival; readonly packet: Packet }
  /** RFC 6762 §5.4: a QU question from an mDNS querier. */
  | { readonly kind: 'unicast'; readonly to: Arrival; readonly packet: Packet }
  | { readonly kind: 'multicast'; readonly packet: Packet; readonly sent: readonly string[] };

/**
 * What to answer to `query` from `from`, given the records and when each was last multicast here.
 * Multicast answers carry no question and id 0 (RFC 6762 §18.1, §6); legacy unicast answers repeat
 * the id and questions, with TTLs capped and no cache-flush bit (§6.7), so `dig` accepts them.
 */
export function decide(query: DecodedPacket, from: Arrival, records: readonly Answer[], lastMulticast: ReadonlyMap<string, number>, now: number): Decision {
  // RFC 6762 §18.3, §18.11: only standard queries with rcode 0.
  const opcode = (query as { opcode?: string }).opcode;
  const rcode = (query as { rcode?: string }).rcode;
  if (query.type !== 'query' || (opcode !== undefined && opcode !== 'QUERY') || (rcode !== undefined && rcode !== 'NOERROR'))
    return { kind: 'none', reason: 'not-a-query' };
  const legacy = from.port !== MDNS_PORT;
  const questions = (query.questions ?? []).filter((q) => questionClass(q).inClass);
  const found: Answer[] = [];
  const seen = new Set<string>();
  for (const q of questions)
    for (const r of matching(q, records))
      if (!seen.has(recordKey(r))) {
        seen.add(recordKey(r));
        found.push(r);
      }
  if (found.length === 0) return { kind: 'none', reason: 'not-ours' };
  const answers = legacy ? found : withoutKnownAnswers(found, query.answers);
  if (answers.length === 0) return { kind: 'none', reason: 'known' };
  const additionals = additionalsFor(answers, records);
  if (legacy) {
    const cap = (r: Answer): Answer => ({ ...r, ttl: Math.min(ttlOf(r), LEGACY_TTL), flush: false }) as Answer;
    return {
      kind: 'legacy-unicast',
      to: from,
      packet: {
        type: 'response',
        id: query.id ?? 0,
        flags: AUTHORITATIVE_ANSWER,
        questions: query.questions ?? [],
        answers: answers.map(cap),
        additionals: additionals.map(cap),
      },
    };
  }
  if (questions.every((q) => questionClass(q).qu))
    return { kind: 'unicast', to: from, packet: { type: 'response', id: 0, flags: AUTHORITATIVE_ANSWER, answers, additionals } };
  const fresh = (r: Answer): boolean => now - (lastMulticast.get(recordKey(r)) ?? -Infinity) >= MULTICAST_INTERVAL_MS;
  const due = answers.filter(fresh);
  if (due.length === 0) return { kind: 'none', reason: 'rate-limited' };
  const extra = additionals.filter(fresh);
  return {
    kind: 'multicast',
    packet: { type: 'response', id: 0, flags: AUTHORITATIVE_ANSWER, answers: due, additionals: extra },
    sent: [...due, ...extra].map(recordKey),
  };
}

/** An unsolicited response carrying every record (RFC 6762 §8.3 announcements, §10.1 goodbyes). */
export function unsolicited(records: readonly Answer[]): Packet {
  return { type: 'response', id: 0, flags: AUTHORITATIVE_ANSWER, answers: [...records] };
}

/**
 * Names of our unique records (cache-flush: SRV, TXT, A) that another host's response claims with
 * other data (RFC 6762 §9): two agents with one instance or host name, i.e. a config mistake.
 */
export function conflicts(response: DecodedPacket, records: readonly Answer[]): string[] {
  const unique = records.filter((r) => (r as { flush?: boolean }).flush === true);
  const ours = new Set(unique.map(recordKey));
  const out = new Set<string>();
  for (const theirs of [...(response.answers ?? []), ...(response.additionals ?? [])]) {
    if (ttlOf(theirs) === 0) continue;
    const mine = unique.find((r) => r.type === theirs.type && sameName(r.name, theirs.name));
    if (mine && !ours.has(recordKey(theirs))) out.add(mine.name);
  }
  return [...out];
}

/**
 * A token bucket: at most `burst` at once and `perSecond` on average. Bounds the unicast answers
 * any number of (possibly spoofed) queriers can draw from the agent, in constant memory.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
