// What the netboot HTTP requests do, decided without I/O: which iPXE script a script request gets,
// the state change it makes, the boot token to issue and the timeline steps to record; the same
// for an installer report; and whether a boot token still stands. agent/http/ gathers the inputs,
// applies the plan (state change, token, steps) and renders the script. Pure.
import type { IpxePlatform, IpxeScript, ScriptRefusal } from '../ipxe/render.js';
import type { NodeSpec, Profile } from '../manifest/model.js';
import { decideBoot, effectiveDesired } from './bootPlan.js';
import type { NodeRecord, NodeState, StepName } from './model.js';
import type { BootGrant } from './tokens.js';

/** A state change, as NodeRegistry.transition takes it. */
export interface PlannedTransition {
  readonly next: NodeState;
  readonly why: string;
  /** The generation the new state refers to; absent: the record's stays. */
  readonly generation?: number;
}

/** A boot token to issue, as BootTokens.issue takes it. */
export interface PlannedToken {
  readonly grant: Omit<BootGrant, 'expiresAt'>;
  /** The manifest's token lifetime; undefined: the agent's configured one. */
  readonly ttlSeconds: number | undefined;
}

export interface PlannedStep {
  readonly step: StepName;
  readonly detail: Record<string, unknown>;
}

export interface ScriptRequest {
  /** Normalized MAC the script was asked for. */
  readonly mac: string;
  readonly platform: IpxePlatform;
  /** The request's source address. */
  readonly from: string;
  /** The address this agent's DHCP has bound to the MAC (an unexpired lease); undefined: none. */
  readonly leasedIp: string | undefined;
  /** The manifest's node for this MAC; undefined: a machine the manifest does not know. */
  readonly spec: NodeSpec | undefined;
  /** The MAC's record; undefined: it has none yet. */
  readonly record: NodeRecord | undefined;
  /** The spec's profile; present whenever the spec is. */
  readonly profile: Profile | undefined;
  /** The profile's first pinned image not cached and verified yet (agent/images/readiness.ts); undefined: all are. */
  readonly imagesNotReady: string | undefined;
  /** The profile's first pinned image whose download failed for good (agent/images/readiness.ts); undefined: none. */
  readonly imageFailed?: string | undefined;
  /** The manifest's boot token lifetime (settings.bootTokenTtlSeconds); undefined: the agent's configured one. */
  readonly tokenTtlSeconds: number | undefined;
}

/**
 * Applied in this order: the state change, the token (its script carries it), the steps. A plan
 * that does not count carries neither a state change nor a token, only its refusal step.
 */
export interface ScriptPlan {
  readonly script: IpxeScript;
  /** The request is the node's own (requesterStanding): only then are its record made and the facts it reports kept. */
  readonly counts: boolean;
  readonly transition?: PlannedTransition;
  readonly token?: PlannedToken;
  readonly steps: readonly PlannedStep[];
}

/** Applied in this order: the steps, then the state change (the report is on the timeline before what it caused). */
export interface ReportPlan {
  readonly steps: readonly PlannedStep[];
  readonly transition?: PlannedTransition;
  /** The node reported its system disk wiped (a wipe boot's `wipe-complete`). */
  readonly wiped?: true;
}

/** A record not made yet, as NodeRegistry.recordFor would make it. */
const FRESH: Pick<NodeRecord, 'state' | 'generation'> = { state: 'discovered', generation: 0 };

/** The state change, unless it changes nothing (same state, no new generation), as NodeRegistry.transition sees it. */
function transitionOf(record: Pick<NodeRecord, 'state' | 'generation'>, next: NodeState, why: string, generation?: number): { transition?: PlannedTransition } {
  if (record.state === next && (generation === undefined || generation === record.generation)) return {};
  return { transition: generation === undefined ? { next, why } : { next, why, generation } };
}

/**
 * Whether a script request counts for its MAC. The MAC is only a claim in a query string; an
 * address is evidence: the one this agent's DHCP leased to that MAC (a bound lease), or the node's
 * fixed `ipv4` from the manifest (relayed racks, where another server may hand it out). A request
 * from any other address, or for a MAC holding neither, is refused.
 */
export function requesterStanding(request: Pick<ScriptRequest, 'from' | 'leasedIp' | 'spec'>): 'ok' | ScriptRefusal {
  const fixed = request.spec?.ipv4;
  if (request.leasedIp === undefined && fixed === undefined) return 'no-lease';
  return request.from === request.leasedIp || request.from === fixed ? 'ok' : 'wrong-address';
}

/**
 * The script request, first checked by requesterStanding: a request that does not count gets the
 * refusal script and a script-refused step, and changes nothing (no state change, no token, no
 * record, no facts). Otherwise, after decideBoot (agent/nodes/bootPlan.ts):
 * - discovery: the discovery script for a machine the manifest does not know, else the wait
 *   script saying why;
 * - boot local: the node's bootLocal method on this platform;
 * - install or rescue while a pinned image is still missing: the image-wait script and no token,
 *   so nothing unverified is ever served; the node is installing (in rescue) all the same;
 * - rescue: the rescue script (the profile's kernel and initramfs, no machine config) and no token;
 * - install: a boot token bound to this node, MAC, the request's address (the one that counted) and
 *   generation, and the install script.
 */
export function planScript(request: ScriptRequest): ScriptPlan {
  const { mac, platform, from, spec, record, profile } = request;
  const standing = requesterStanding(request);
  if (standing !== 'ok')
    return { script: { kind: 'refused', mac, reason: standing, from }, counts: false, steps: [{ step: 'script-refused', detail: { reason: standing, from } }] };
  const decision = decideBoot(spec, record);
  const change = transitionOf(record ?? FRESH, decision.next, decision.why, spec && decision.kind === 'install' ? spec.generation : undefined);
  const plan = (script: IpxeScript, step: PlannedStep, token?: PlannedToken): ScriptPlan => ({
    script,
    counts: true,
    ...change,
    ...(token ? { token } : {}),
    steps: [step],
  });
  if (decision.kind === 'discovery' || !spec) {
    const script: IpxeScript = spec ? { kind: 'wait', reason: decision.why } : { kind: 'discovery', mac };
    return plan(script, { step: 'script-served', detail: { kind: 'discovery', platform, why: decision.why } });
  }
  if (decision.kind === 'boot-local') {
    const method = spec.bootLocal;
    return plan({ kind: 'boot-local', method, platform }, { step: 'boot-local-served', detail: { method, platform } });
  }
  if (!profile) throw new Error(`node ${spec.id}: planScript was given no profile`);
  const failed = request.imageFailed;
  if (failed) return plan({ kind: 'failed-image', cause: failed }, { step: 'script-served', detail: { kind: 'failed-image', platform, cause: failed } });
  const waiting = request.imagesNotReady;
  if (waiting) return plan({ kind: 'wait-image', waiting }, { step: 'script-served', detail: { kind: 'wait-image', platform, waiting } });
  // A token for the wipe's report only: the config endpoint refuses it.
  if (decision.kind === 'wipe')
    return plan(
      { kind: 'wipe', node: spec, profile, platform },
      { step: 'script-served', detail: { kind: 'wipe', platform, profile: profile.name, talosVersion: profile.talosVersion, why: decision.why } },
      { grant: { nodeId: spec.id, mac, ip: from, generation: spec.generation, purpose: 'wipe' }, ttlSeconds: request.tokenTtlSeconds },
    );
  // No token: the rescue kernel line names no machine config, so there is nothing to fetch.
  if (decision.kind === 'rescue')
    return plan(
      { kind: 'rescue', node: spec, profile, platform },
      { step: 'script-served', detail: { kind: 'rescue', platform, profile: profile.name, talosVersion: profile.talosVersion, why: decision.why } },
    );
  const { generation } = spec;
  return plan(
    { kind: 'install', node: spec, profile, platform },
    { step: 'script-served', detail: { kind: 'install', platform, profile: profile.name, talosVersion: profile.talosVersion, generation } },
    { grant: { nodeId: spec.id, mac, ip: from, generation }, ttlSeconds: request.tokenTtlSeconds },
  );
}

/**
 * An installer report (its short scalar fields, `step` among them): always an installer-event
 * step; `install-complete` also an install-reported step and the move to installed, from whatever
 * state the node is in; `install-failed` also an install-failed step, and no state change.
 */
export function planReport(detail: Record<string, unknown>, record: Pick<NodeRecord, 'state' | 'generation'>, purpose?: BootGrant['purpose']): ReportPlan {
  const event: PlannedStep = { step: 'installer-event', detail };
  // A wipe boot's token: its wipe report counts, nothing it says about an install does.
  if (purpose === 'wipe') return detail.step === 'wipe-complete' ? { steps: [event], wiped: true } : { steps: [event] };
  if (detail.step === 'install-complete') {
    return { steps: [event, { step: 'install-reported', detail }], ...transitionOf(record, 'installed', 'installer reported success') };
  }
  if (detail.step === 'install-failed') return { steps: [event, { step: 'install-failed', detail }] };
  return { steps: [event] };
}

/**
 * A boot token stands while the node is still to be installed at the generation it was issued
 * for: a generation bump, desired state discovery or rescue (an operator's rescue request too) or
 * the node leaving the manifest supersedes it, whatever its lifetime left.
 */
export function grantStanding(
  grant: Pick<BootGrant, 'generation' | 'purpose'>,
  spec: NodeSpec | undefined,
  record?: Pick<NodeRecord, 'rescueRequestedAt' | 'wipedAt'>,
): 'ok' | 'superseded' {
  if (!spec || spec.generation !== grant.generation) return 'superseded';
  // A wipe token stands until the wipe is reported, while the node is still to be decommissioned.
  if (grant.purpose === 'wipe') return spec.desired === 'decommissioned' && record?.wipedAt === undefined ? 'ok' : 'superseded';
  return effectiveDesired(spec, record) === 'installed' ? 'ok' : 'superseded';
}
