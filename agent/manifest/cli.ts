// `maskin-agent manifest keygen | sign | verify | show`: the operator's side of the signed
// contract, so any static HTTP host or object store can act as central.
// Signing runs the agent's own verification on the result, so what it writes is what agents accept.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parse as parseYaml, stringify } from 'yaml';
import { CliFileError, ManifestRejectedError, MaskinError } from '../errors.js';
import { talosChecks } from '../talos/checks.js';
import { loadManifestFile, type RawManifest } from './load.js';
import { manifestToProto, rawFromProto } from './convert.js';
import {
  decodePayload,
  decodeSignedManifest,
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  signManifest,
  verifySignedManifest,
  type VerifiedManifest,
} from './signature.js';

export interface CommandIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export const MANIFEST_USAGE = `usage:
  maskin-agent manifest keygen --key-id ID --out DIR
      new Ed25519 key pair: DIR/ID.key (private, 0600) and DIR/ID.pub
  maskin-agent manifest sign --key FILE --key-id ID [--rack RACK] [--version N] IN.yaml OUT
      validate a YAML manifest, sign it, write the SignedManifest protobuf to OUT
  maskin-agent manifest verify --pub [ID=]FILE [--pub ...] --rack RACK [--current-version N] [--max-bytes N] IN
      check a signed manifest as an agent of rack RACK would (key id = file name without .pub)
  maskin-agent manifest show [--pub [ID=]FILE ... --rack RACK] IN
      print a signed manifest as local-file YAML (signature checked only with --pub and --rack)
`;

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The agent's default uplink.maxManifestBytes. */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** A mistake in the command line: exit 2 with the usage. */
class UsageError extends Error {}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) {
    throw new UsageError(`${flag} ${value}: give a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(value);
}

function keyId(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--key-id is required');
  if (!KEY_ID.test(value))
    throw new UsageError(`--key-id ${JSON.stringify(value)}: use 1-64 letters, digits, . _ - (it names the key files and uplink.trustedKeys[].id)`);
  return value;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliFileError(`cannot read ${what} ${file} (${(err as Error).message}). Fix: give an existing, readable file`);
  }
}

function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliFileError(`cannot read signed manifest ${file} (${(err as Error).message}). Fix: give the file \`manifest sign\` wrote`);
  }
}

/** `--pub FILE` (key id = basename without .pub) or `--pub ID=FILE`. */
function trustedKeys(pubs: string[] | undefined): Map<string, KeyObject> {
  if (!pubs || pubs.length === 0) throw new UsageError('give at least one --pub FILE (a public key from `manifest keygen`)');
  const keys = new Map<string, KeyObject>();
  for (const pub of pubs) {
    const eq = pub.indexOf('=');
    const [id, file] = eq > 0 && !pub.slice(0, eq).includes('/') ? [pub.slice(0, eq), pub.slice(eq + 1)] : [path.basename(pub).replace(/\.pub$/, ''), pub];
    if (!KEY_ID.test(id)) throw new UsageError(`--pub ${pub}: key id ${JSON.stringify(id)} is not 1-64 letters, digits, . _ -; write --pub ID=FILE`);
    keys.set(id, loadPublicKey(readText(file, 'public key'), `public key ${file}`));
  }
  return keys;
}

/** Write-then-rename, so a reader (a static web server) never sees half a manifest. */
async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const handle = await open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliFileError(`cannot write ${file} (${(err as Error).message}). Fix: give a writable output path`);
  }
}

async function keygen(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({ args, options: { 'key-id': { type: 'string' }, out: { type: 'string' } }, strict: true });
  const id = keyId(values['key-id']);
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const keyFile = path.join(values.out, `${id}.key`);
  const pubFile = path.join(values.out, `${id}.pub`);
  for (const file of [keyFile, pubFile]) {
    if (existsSync(file)) throw new CliFileError(`${file} exists; refusing to overwrite a key. Fix: choose another --key-id or --out`);
  }
  const pair = generateKeyPair();
  await mkdir(values.out, { recursive: true, mode: 0o700 });
  // 'wx': fail rather than overwrite if another keygen raced us to the same name.
  await writeFile(keyFile, pair.privatePem, { mode: 0o600, flag: 'wx' });
  await writeFile(pubFile, pair.publicPem, { mode: 0o644, flag: 'wx' });
  io.stdout.write(
    `private key: ${keyFile} (keep it on the signing host only)\n` +
      `public key:  ${pubFile}\n` +
      `to trust it, copy the public key to each agent and add to its config:\n` +
      `  uplink:\n    trustedKeys:\n      - { id: ${id}, publicKeyFile: /etc/maskin/keys/${id}.pub }\n`,
  );
  return 0;
}

async function signCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { key: { type: 'string' }, 'key-id': { type: 'string' }, rack: { type: 'string' }, version: { type: 'string' } },
  });
  const id = keyId(values['key-id']);
  if (values.key === undefined) throw new UsageError('--key FILE is required (the .key file from `manifest keygen`)');
  const version = positiveInt(values.version, '--version');
  if (positionals.length !== 2) throw new UsageError('give the input YAML manifest and the output file');
  const [input, output] = positionals as [string, string];
  const key = loadPrivateKey(readText(values.key, 'private key'), `private key ${values.key}`);

  // You cannot sign an invalid manifest: the full local-file validation first, Talos schema included.
  loadManifestFile(input, talosChecks);
  const raw = parseYaml(readText(input, 'manifest')) as RawManifest;
  if (values.rack !== undefined && raw.rackId !== undefined && raw.rackId !== values.rack) {
    io.stderr.write(`note: ${input} names rack ${raw.rackId}; signing it for --rack ${values.rack}\n`);
  }
  const pb = manifestToProto(raw, {
    baseDir: path.dirname(input),
    ...(values.rack !== undefined ? { rackId: values.rack } : {}),
    ...(version !== undefined ? { version } : {}),
  });
  const bytes = signManifest(pb, id, key);
  // What agents will run: the signed bytes through the agent's own path (catches a bad --rack).
  const trusted = new Map([[id, createPublicKey(key)]]);
  let checked: VerifiedManifest;
  try {
    checked = verifySignedManifest(bytes, { trustedKeys: trusted, rackId: pb.rackId, maxBytes: Number.MAX_SAFE_INTEGER, talos: talosChecks });
  } catch (err) {
    if (!(err instanceof ManifestRejectedError)) throw err;
    throw new MaskinError(err.code, `not signed: agents would refuse the result. ${err.message}`, { cause: err });
  }
  await writeAtomically(output, bytes);
  io.stdout.write(`signed ${output}: rack ${pb.rackId} version ${checked.version} key ${id}, ${checked.manifest.nodes.length} nodes, ${bytes.length} bytes\n`);
  if (bytes.length > DEFAULT_MAX_BYTES)
    io.stderr.write(`warning: ${bytes.length} bytes is above the agents' default uplink.maxManifestBytes (${DEFAULT_MAX_BYTES}); raise it on the agents\n`);
  return 0;
}

function summary(v: VerifiedManifest): string {
  return `rack ${v.manifest.rackId ?? '?'} version ${v.version} key ${v.keyId}, ${v.manifest.nodes.length} nodes`;
}

async function verifyCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { pub: { type: 'string', multiple: true }, rack: { type: 'string' }, 'current-version': { type: 'string' }, 'max-bytes': { type: 'string' } },
  });
  if (values.rack === undefined) throw new UsageError('--rack RACK is required (the rackId of the agent that would receive it)');
  if (positionals.length !== 1) throw new UsageError('give one signed manifest file');
  const currentVersion = positiveInt(values['current-version'], '--current-version');
  const maxBytes = positiveInt(values['max-bytes'], '--max-bytes') ?? DEFAULT_MAX_BYTES;
  const keys = trustedKeys(values.pub);
  const verified = verifySignedManifest(readBytes(positionals[0]!), {
    trustedKeys: keys,
    rackId: values.rack,
    maxBytes,
    talos: talosChecks,
    ...(currentVersion !== undefined ? { currentVersion } : {}),
  });
  io.stdout.write(`ok: ${summary(verified)}\n`);
  return 0;
}

async function showCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { pub: { type: 'string', multiple: true }, rack: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('give one signed manifest file');
  if ((values.pub === undefined) !== (values.rack === undefined))
    throw new UsageError('to check the signature give both --pub FILE and --rack RACK; to skip it give neither');
  const bytes = readBytes(positionals[0]!);
  let checked = 'NOT checked (give --pub FILE --rack RACK to check it)';
  if (values.pub !== undefined && values.rack !== undefined) {
    const verified = verifySignedManifest(bytes, {
      trustedKeys: trustedKeys(values.pub),
      rackId: values.rack,
      maxBytes: Number.MAX_SAFE_INTEGER,
      talos: talosChecks,
    });
    checked = `checked: ok, ${verified.manifest.nodes.length} nodes valid`;
  }
  const signed = decodeSignedManifest(bytes);
  const pb = decodePayload(signed.payload);
  const raw = rawFromProto(pb);
  io.stdout.write(
    `# rack: ${pb.rackId || '(none)'}\n# version: ${pb.version}\n# key: ${signed.keyId}\n` +
      `# issued at: ${raw.issuedAt ?? '(not set)'}\n# signature: ${checked}\n` +
      stringify(raw, { lineWidth: 0 }),
  );
  return 0;
}

const SUBCOMMANDS: Readonly<Record<string, (args: string[], io: CommandIo) => Promise<number>>> = {
  keygen,
  sign: signCommand,
  verify: verifyCommand,
  show: showCommand,
};

/** `maskin-agent manifest ...`; returns the exit code: 0 ok, 1 refused or failed, 2 usage. */
export async function manifestCommand(args: string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    io.stdout.write(MANIFEST_USAGE);
    return 0;
  }
  const run = sub !== undefined ? SUBCOMMANDS[sub] : undefined;
  if (run === undefined) {
    io.stderr.write(`${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`}\n${MANIFEST_USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes.
    const parseError = typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('ERR_PARSE_ARGS');
    if (err instanceof UsageError || parseError) {
      io.stderr.write(`manifest ${sub}: ${(err as Error).message}\n${MANIFEST_USAGE}`);
      return 2;
    }
    if (err instanceof MaskinError) {
      io.stderr.write(`manifest ${sub}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
