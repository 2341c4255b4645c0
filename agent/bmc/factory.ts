// One driver per node, chosen by the manifest's BmcRef.driver: never by probing protocols (a
// probing storm across a rack of BMCs locks accounts and trips rate limits).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { BmcError } from '../errors.js';
import type { BmcSettings } from '../config/model.js';
import type { NodeSpec } from '../manifest/model.js';
import type { BmcSecret } from './credentials.js';
import type { BmcCredentials, BmcDriver } from './driver.js';
import { createIpmiDriver } from './ipmi/driver.js';
import type { Registry } from 'prom-client';
import { bmcCallHistogram, withLogging } from './logging.js';
import { createRedfishDriver } from './redfish/driver.js';

export interface DriverFactoryOptions {
  readonly log: Logger;
  /** Bound of one BMC request (the lifecycle bounds each whole call on top). */
  readonly requestTimeoutMs?: number;
  readonly ipmi?: BmcSettings['ipmi'];
  /** Where maskin_bmc_call_duration_seconds is registered; absent: not exported. */
  readonly registry?: Registry;
}

export function createDriverFactory(opts: DriverFactoryOptions): (node: NodeSpec, creds: BmcCredentials) => BmcDriver {
  const calls = bmcCallHistogram(opts.registry);
  return (node, creds) => {
    const log = opts.log.child({ node: node.id });
    return withLogging(driverFor(opts, node, creds, log), log, calls);
  };
}

function driverFor(opts: DriverFactoryOptions, node: NodeSpec, creds: BmcCredentials, log: Logger): BmcDriver {
  const bmc = node.bmc;
  if (!bmc) throw new BmcError('unsupported', '(none)', 'create driver', `node ${node.id} has no bmc in the manifest`);
  const secret = creds as BmcSecret;
  switch (bmc.driver) {
    case 'redfish': {
      let ca: string | undefined;
      if (secret.caFile !== undefined) {
        try {
          ca = readFileSync(secret.caFile, 'utf8');
        } catch (err) {
          throw new BmcError(
            'unsupported',
            bmc.address,
            'read CA file',
            `${secret.caFile}: ${(err as Error).message}. Fix: point caFile of this BMC's secrets entry at a readable PEM file`,
          );
        }
      }
      return createRedfishDriver({
        address: bmc.address,
        credentials: creds,
        vendor: bmc.vendor,
        ...(ca !== undefined ? { ca } : {}),
        ...(secret.insecure ? { insecure: true } : {}),
        ...(opts.requestTimeoutMs !== undefined ? { timeoutMs: opts.requestTimeoutMs } : {}),
        log,
      });
    }
    case 'ipmi':
      return createIpmiDriver({
        address: bmc.address,
        credentials: creds,
        ...(opts.requestTimeoutMs !== undefined ? { timeoutMs: opts.requestTimeoutMs } : {}),
        ...(opts.ipmi?.cipherSuite !== undefined ? { cipherSuite: opts.ipmi.cipherSuite } : {}),
        ...(opts.ipmi !== undefined ? { bootFlagCheck: opts.ipmi.bootFlagCheck } : {}),
        log,
      });
  }
}
