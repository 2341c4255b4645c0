// Desired-state fixtures shared by the unit tables: a valid profile and node, overridable field
// by field.
import type { NodeSpec, Profile } from '../../agent/manifest/model.js';

/** Image Factory's vanilla schematic (no extensions, no extra kernel args). */
export const VANILLA_SCHEMATIC = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba';

export function profileFixture(over: Partial<Profile> = {}): Profile {
  return {
    name: 'workers',
    talosVersion: 'v1.13.9',
    schematic: VANILLA_SCHEMATIC,
    arch: 'amd64',
    kernelArgs: [],
    install: { disk: '/dev/sda', wipe: false },
    machineConfig: [],
    ...over,
  };
}

export function nodeFixture(over: Partial<NodeSpec> = {}): NodeSpec {
  return {
    id: 'r1-n07',
    macs: ['52:54:00:12:34:56'],
    profile: 'workers',
    patches: [],
    desired: 'installed',
    generation: 1,
    bootLocal: 'exit',
    ...over,
  };
}
