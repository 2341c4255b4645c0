// The committed Protobuf-ES code must be what the .proto files generate (npm run proto), so the
// contract and the code never drift apart.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../bed/agent.js';

t.test('agent/uplink/gen is up to date with proto/', async (t) => {
  const out = await mkdtemp(path.join(tmpdir(), 'maskin-gen-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  await promisify(execFile)(
    'protoc',
    [
      `--plugin=protoc-gen-es=${path.join(repoRoot, 'node_modules/.bin/protoc-gen-es')}`,
      `--es_out=${out}`,
      '--es_opt=target=ts,import_extension=js',
      '-I',
      'proto',
      'proto/maskin/v1/manifest.proto',
      'proto/maskin/v1/report.proto',
    ],
    { cwd: repoRoot },
  );
  const files = await readdir(path.join(out, 'maskin/v1'));
  t.same(files.sort(), ['manifest_pb.ts', 'report_pb.ts']);
  for (const file of files) {
    const fresh = await readFile(path.join(out, 'maskin/v1', file), 'utf8');
    const committed = await readFile(path.join(repoRoot, 'agent/uplink/gen/maskin/v1', file), 'utf8');
    t.equal(committed, fresh, `${file} matches; run npm run proto after editing proto/`);
  }
});
