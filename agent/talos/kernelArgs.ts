// Kernel command line for a PXE-booted Talos installer (Talos docs "Kernel
// parameters"). Order: required, defaults, console, our URLs, then the profile's extras.
//
// Extras are `key` or `key=value`. An extra whose key matches a default replaces every default
// with that key (`console=ttyS1,115200` replaces both default consoles). `-key` removes the
// defaults with that key (`-consoleblank`). Required args and the URLs maskin owns cannot be
// changed or removed. Anything iPXE would rewrite is refused, not escaped: iPXE expands `${...}`
// in every command and has no escape for it, and whitespace would split the argument.
import { KernelArgError } from '../errors.js';
import type { Profile } from '../manifest/model.js';
import { isBefore, parseTalosVersion } from './version.js';

/** Talos refuses to run without these on metal. */
const REQUIRED = ['talos.platform=metal', 'slab_nomerge', 'pti=on'] as const;
/**
 * Keys only maskin sets. `talos.config` carries the per-boot token; `maskin.events` is read by our
 * stand-in installer; `talos.logging.kernel` sends the kernel log to the agent's node log sink;
 * `talos.experimental.wipe` wipes the system disk, which only a decommission may ask for.
 */
const OWNED_KEYS = new Set(['talos.config', 'maskin.events', 'talos.logging.kernel', 'talos.experimental.wipe']);

export interface KernelArgUrls {
  /** The per-boot machine config; absent for rescue (Talos then waits in maintenance mode). */
  readonly config?: string;
  readonly events?: string;
  /** The node log sink, `tcp://host:port` (Talos docs "Logging": kernel log delivery). */
  readonly logs?: string;
  /** Decommission: `talos.experimental.wipe=system`, never from a profile's extras. */
  readonly wipe?: boolean;
}

const keyOf = (arg: string): string => {
  const eq = arg.indexOf('=');
  return eq < 0 ? arg : arg.slice(0, eq);
};

/** Why an argument cannot go on an iPXE kernel line, or undefined when it can. */
function unsafeReason(arg: string): string | undefined {
  if (arg.length === 0) return 'empty';
  if (arg.includes('${')) return 'contains "${", which iPXE would expand';
  if (/[\s\0]/.test(arg)) return 'contains whitespace or NUL, which would split it into several arguments';
  if (/[^\x21-\x7e]/.test(arg)) return 'contains non-printable or non-ASCII characters';
  return undefined;
}

/** Problems with a profile's extra args, for the manifest loader to report at load time. */
export function kernelArgProblems(extras: readonly string[]): string[] {
  const problems: string[] = [];
  for (const arg of extras) {
    const removal = arg.startsWith('-');
    const key = keyOf(removal ? arg.slice(1) : arg);
    const reason = unsafeReason(arg) ?? (removal && arg.includes('=') ? 'a removal is written -key, without a value' : undefined);
    if (reason) problems.push(`${JSON.stringify(arg)}: ${reason}`);
    else if (OWNED_KEYS.has(key)) problems.push(`${JSON.stringify(arg)}: ${key} is set by maskin`);
    else if (REQUIRED.some((r) => keyOf(r) === key && (removal || r !== arg)))
      problems.push(`${JSON.stringify(arg)}: Talos requires ${REQUIRED.find((r) => keyOf(r) === key)}`);
  }
  return problems;
}

function defaultsFor(profile: Profile): string[] {
  const version = parseTalosVersion(profile.talosVersion);
  const defaults = ['consoleblank=0', 'printk.devkmsg=on'];
  // Talos before 1.14 expects init_on_alloc=1 on the command line; 1.14 no longer does.
  if (isBefore(version, 1, 14)) defaults.push('init_on_alloc=1');
  if (profile.arch === 'amd64') defaults.push('console=tty0', 'console=ttyS0');
  else defaults.push('console=ttyAMA0');
  return defaults;
}

export function talosKernelArgs(profile: Profile, urls: KernelArgUrls): string[] {
  for (const url of [urls.config, urls.events, urls.logs]) {
    if (url === undefined) continue;
    const reason = unsafeReason(url);
    if (reason) throw new KernelArgError(url, reason);
  }
  const problems = kernelArgProblems(profile.kernelArgs);
  if (problems.length > 0) throw new KernelArgError(profile.kernelArgs.join(' '), `profile ${profile.name}: ${problems.join('; ')}`);

  let defaults = defaultsFor(profile);
  const extras: string[] = [];
  for (const arg of profile.kernelArgs) {
    const removal = arg.startsWith('-');
    const key = keyOf(removal ? arg.slice(1) : arg);
    defaults = defaults.filter((d) => keyOf(d) !== key);
    if (removal) continue;
    // Repeating a required arg verbatim is harmless; keep the line free of duplicates.
    if ((REQUIRED as readonly string[]).includes(arg) || extras.includes(arg)) continue;
    extras.push(arg);
  }
  return [
    ...REQUIRED,
    ...defaults,
    ...(urls.config !== undefined ? [`talos.config=${urls.config}`] : []),
    ...(urls.events !== undefined ? [`maskin.events=${urls.events}`] : []),
    ...(urls.logs !== undefined ? [`talos.logging.kernel=${urls.logs}`] : []),
    ...(urls.wipe ? ['talos.experimental.wipe=system'] : []),
    ...extras,
  ];
}
