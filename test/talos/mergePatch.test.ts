import t from 'tap';
import { mergePatch } from '../../agent/talos/mergePatch.js';

// RFC 7386 Appendix A, every row: [original, patch, result].
const APPENDIX_A: [unknown, unknown, unknown][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [
    ['a', 'b'],
    ['c', 'd'],
    ['c', 'd'],
  ],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

t.test('RFC 7386 Appendix A', async (t) => {
  for (const [original, patch, result] of APPENDIX_A) {
    t.same(mergePatch(original, patch), result, `${JSON.stringify(original)} + ${JSON.stringify(patch)}`);
  }
});

t.test('inputs are left untouched and the result shares nothing with them', async (t) => {
  const original = { machine: { install: { disk: '/dev/sda' }, env: { A: '1' } } };
  const patch = { machine: { install: { disk: '/dev/nvme0n1' }, kubelet: { extraArgs: { a: 'b' } } } };
  const before = structuredClone(original);
  const patchBefore = structuredClone(patch);
  const out = mergePatch(original, patch) as typeof original & { machine: { kubelet: { extraArgs: Record<string, string> } } };
  t.same(original, before);
  t.same(patch, patchBefore);
  out.machine.env.A = 'changed';
  out.machine.kubelet.extraArgs.a = 'changed';
  t.equal(original.machine.env.A, '1');
  t.equal(patch.machine.kubelet.extraArgs.a, 'b');
});

t.test('a __proto__ key is data, not a prototype change', async (t) => {
  const patch = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
  const out = mergePatch({}, patch) as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(out), Object.prototype);
  t.same(Object.keys(out), ['__proto__']);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined);
});
