// The CLI's one URL joining rule and where it looks for the agent (agent/cli/client.ts).
import t from 'tap';
import { adminBase, configPath, DEFAULT_CONFIG, joinUrl } from '../../agent/cli/client.js';

t.test('joinUrl: with or without a trailing slash, below a reverse proxy prefix, never //', async (t) => {
  t.equal(joinUrl('http://127.0.0.1:8080', 'v1/nodes'), 'http://127.0.0.1:8080/v1/nodes');
  t.equal(joinUrl('http://127.0.0.1:8080/', '/v1/nodes'), 'http://127.0.0.1:8080/v1/nodes');
  t.equal(joinUrl('http://rack1.example/maskin', 'v1/status'), 'http://rack1.example/maskin/v1/status');
  t.equal(joinUrl('http://rack1.example/maskin/', '/v1/status'), 'http://rack1.example/maskin/v1/status');
  t.equal(joinUrl('http://h/?x=1#y', 'v1/nodes/n%201'), 'http://h/v1/nodes/n%201', 'a query or fragment on the base is dropped');
});

t.test('configPath: --config, then MASKIN_CONFIG, then the default', async (t) => {
  t.same(configPath('a.yaml', { MASKIN_CONFIG: 'b.yaml' }), { file: 'a.yaml', explicit: true });
  t.same(configPath(undefined, { MASKIN_CONFIG: 'b.yaml' }), { file: 'b.yaml', explicit: true });
  t.same(configPath(undefined, {}), { file: DEFAULT_CONFIG, explicit: false });
  t.same(configPath(undefined, { MASKIN_CONFIG: '' }), { file: DEFAULT_CONFIG, explicit: false }, 'an empty MASKIN_CONFIG is unset');
});

t.test('adminBase: --url wins and is checked; a named config that cannot be read is an error', async (t) => {
  t.equal(adminBase({ url: 'http://10.0.0.1:8080' }, {}), 'http://10.0.0.1:8080/');
  t.throws(() => adminBase({ url: 'ftp://x' }, {}), { exitCode: 2, message: /use an http:\/\/ or https:\/\/ URL/ });
  t.throws(() => adminBase({ config: '/nonexistent/agent.yaml' }, {}), { exitCode: 1, message: /\/nonexistent\/agent\.yaml/ });
});
