// A ServerProbe that answers from a table: address → outcome, per service; unlisted = silent.
import type { DnsOutcome, NtpOutcome, ServerProbe } from '../../agent/net/serverProbe.js';

export function fixedServerProbe(ntp: Record<string, NtpOutcome>, dns: Record<string, DnsOutcome> = {}): ServerProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async ntp(address) {
      asked.push(`ntp ${address}`);
      return ntp[address] ?? { kind: 'silent', timeoutMs: 1000 };
    },
    async dns(address) {
      asked.push(`dns ${address}`);
      return dns[address] ?? { kind: 'silent', timeoutMs: 1000 };
    },
  };
}
