// Where a step lands on a node's timeline. Refusals come from whoever chooses to send them, as
// often as they like, so they coalesce: one step per refusal name and reason per node, counted in
// place. Pure.
import type { StepName, TimelineStep } from './model.js';

/** Steps that record a refused request (iPXE script, machine config, installer report). */
export const REFUSAL_STEPS: ReadonlySet<StepName> = new Set<StepName>(['script-refused', 'config-refused']);

/**
 * `append`: a new step at the end. `update`: the step at `index` replaced in place.
 * `notable`: the step is worth a report upstream and a write to the store (see placeStep).
 */
export type StepPlacement =
  | { readonly kind: 'append'; readonly entry: TimelineStep; readonly notable: true }
  | { readonly kind: 'update'; readonly index: number; readonly entry: TimelineStep; readonly notable: boolean };

/** Two refusal steps coalesce when they have the same name, reason and endpoint. */
function sameRefusal(a: TimelineStep, step: StepName, detail: Readonly<Record<string, unknown>>): boolean {
  return a.step === step && a.detail.reason === detail.reason && a.detail.endpoint === detail.endpoint;
}

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/**
 * Any step but a refusal: appended. A refusal with no earlier step of the same name, reason and
 * endpoint on the timeline: appended with `count: 1`. Otherwise that earlier step is updated in
 * place: its `at` stays the first refusal's, `count` goes up by one, `lastAt` is this one's time
 * and the rest of the detail (`from`, …) is this one's. So a flood leaves the rest of the timeline
 * alone, and the last step stays the node's own last step. The update is notable when the count
 * reaches a power of two, so n refusals cost about log2(n) reports and store writes.
 */
export function placeStep(timeline: readonly TimelineStep[], step: StepName, detail: Readonly<Record<string, unknown>>, at: string): StepPlacement {
  if (IPXE_REQUESTS.has(step)) {
    const gap = ipxeWaitMs(timeline, at);
    return { kind: 'append', entry: { at, step, detail: gap === undefined ? detail : { ...detail, afterDhcpAckMs: gap } }, notable: true };
  }
  if (!REFUSAL_STEPS.has(step)) return { kind: 'append', entry: { at, step, detail }, notable: true };
  for (let i = timeline.length - 1; i >= 0; i--) {
    const earlier = timeline[i]!;
    if (!sameRefusal(earlier, step, detail)) continue;
    const count = (typeof earlier.detail.count === 'number' ? earlier.detail.count : 1) + 1;
    return { kind: 'update', index: i, entry: { at: earlier.at, step, detail: { ...detail, count, lastAt: at } }, notable: isPowerOfTwo(count) };
  }
  return { kind: 'append', entry: { at, step, detail: { ...detail, count: 1 } }, notable: true };
}

/** The steps that record iPXE asking for its script after its DHCP. */
const IPXE_REQUESTS: ReadonlySet<StepName> = new Set<StepName>(['script-served', 'boot-local-served']);

/**
 * `afterDhcpAckMs`: how long iPXE took from its DHCP ACK to its first script request (about 12 s
 * when no router advertisement ends its IPv6 autoconfiguration, agent/ra). Only the first request
 * after an ACK has one: a later one (a wait-image script asking again) measures the wait instead.
 */
function ipxeWaitMs(timeline: readonly TimelineStep[], at: string): number | undefined {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const step = timeline[i]!.step;
    if (IPXE_REQUESTS.has(step)) return undefined;
    if (step === 'dhcp-ack') return msSinceLast(timeline, 'dhcp-ack', at);
  }
  return undefined;
}

/**
 * Milliseconds from the node's last `step` to `at`, if that step is on the timeline (undefined for a time before it). */
export function msSinceLast(timeline: readonly TimelineStep[], step: StepName, at: string): number | undefined {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const earlier = timeline[i]!;
    if (earlier.step !== step) continue;
    const ms = Date.parse(at) - Date.parse(earlier.at);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  }
  return undefined;
}

/**
 * Proxy offers in a row, with nothing else from the machine between them, after which it gets
 * a `boot-hint`: PXE firmware retries its DISCOVER about four times a round (PXE spec 2.1 §2.2.1;
 * EDK2 after 4, 8, 16 and 32 s), and a machine that takes the proxy offer goes on to port 4011,
 * TFTP or the script after one or two.
 */
export const PROXY_IGNORED_OFFERS = 4;

/**
 * The hint for a machine that keeps DISCOVERing without taking the agent's proxy offers (its
 * firmware ignores offers without an address, or never sees them): once, when the trailing run of
 * DISCOVER/OFFER steps reaches PROXY_IGNORED_OFFERS proxy offers.
 */
export function proxyIgnoredHint(timeline: readonly TimelineStep[]): Record<string, unknown> | undefined {
  let offers = 0;
  for (let i = timeline.length - 1; i >= 0; i--) {
    const s = timeline[i]!;
    if (s.step === 'dhcp-discover') continue;
    if (s.step !== 'dhcp-offer' || s.detail.proxy !== true) break;
    offers++;
  }
  if (offers !== PROXY_IGNORED_OFFERS) return undefined;
  return {
    hint: 'proxy-offer-ignored',
    offers,
    why: 'the machine keeps asking for an address and never fetches its boot file: its firmware likely ignores proxyDHCP offers',
    fix: 'serve it full DHCP (dhcp.mode: full on a segment without another server), or have the DHCP server relay to this agent',
  };
}
