import t from 'tap';
import { negotiate } from '../../agent/tftp/negotiate.js';

const limits = { maxBlksize: 1468, maxWindowsize: 64, maxTimeoutSeconds: 10 };
const req = (...pairs: [string, string][]): Map<string, string> => new Map(pairs);

const table: {
  name: string;
  options: Map<string, string>;
  blksize: number;
  windowsize: number;
  timeoutMs?: number;
  oack: [string, string][] | undefined;
}[] = [
  { name: 'no options: plain RFC 1350, no OACK', options: req(), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'blksize granted', options: req(['blksize', '1024']), blksize: 1024, windowsize: 1, oack: [['blksize', '1024']] },
  { name: 'blksize capped to the MTU limit', options: req(['blksize', '65464']), blksize: 1468, windowsize: 1, oack: [['blksize', '1468']] },
  { name: 'blksize 8 is the smallest', options: req(['blksize', '8']), blksize: 8, windowsize: 1, oack: [['blksize', '8']] },
  { name: 'blksize 7 ignored', options: req(['blksize', '7']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'blksize 65465 ignored', options: req(['blksize', '65465']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'non-numeric blksize ignored', options: req(['blksize', '0x400']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'tsize answered with the file size', options: req(['tsize', '0']), blksize: 512, windowsize: 1, oack: [['tsize', '74213']] },
  { name: 'timeout accepted', options: req(['timeout', '3']), blksize: 512, windowsize: 1, timeoutMs: 3000, oack: [['timeout', '3']] },
  { name: 'timeout 0 ignored', options: req(['timeout', '0']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'timeout 256 ignored', options: req(['timeout', '256']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'timeout at the cap accepted', options: req(['timeout', '10']), blksize: 512, windowsize: 1, timeoutMs: 10_000, oack: [['timeout', '10']] },
  { name: 'timeout 255 over the cap ignored, not lowered', options: req(['timeout', '255']), blksize: 512, windowsize: 1, oack: undefined },
  {
    name: 'timeout over the cap ignored, the other options kept',
    options: req(['blksize', '1468'], ['timeout', '11']),
    blksize: 1468,
    windowsize: 1,
    oack: [['blksize', '1468']],
  },
  { name: 'windowsize granted', options: req(['windowsize', '8']), blksize: 512, windowsize: 8, oack: [['windowsize', '8']] },
  { name: 'windowsize capped', options: req(['windowsize', '65535']), blksize: 512, windowsize: 64, oack: [['windowsize', '64']] },
  { name: 'windowsize 0 ignored', options: req(['windowsize', '0']), blksize: 512, windowsize: 1, oack: undefined },
  { name: 'unknown options ignored', options: req(['rollover', '0'], ['multicast', '']), blksize: 512, windowsize: 1, oack: undefined },
  {
    name: 'all together, request order kept',
    options: req(['tsize', '0'], ['rollover', '0'], ['blksize', '1468'], ['windowsize', '8'], ['timeout', '1']),
    blksize: 1468,
    windowsize: 8,
    timeoutMs: 1000,
    oack: [
      ['tsize', '74213'],
      ['blksize', '1468'],
      ['windowsize', '8'],
      ['timeout', '1'],
    ],
  },
];

for (const row of table) {
  t.test(row.name, async (t) => {
    const { params, oack } = negotiate(row.options, 74213, limits);
    t.equal(params.blksize, row.blksize);
    t.equal(params.windowsize, row.windowsize);
    t.equal(params.timeoutMs, row.timeoutMs);
    t.same(oack === undefined ? undefined : [...oack], row.oack);
  });
}

t.test('a lower MTU cap lowers the granted blksize', async (t) => {
  const { params } = negotiate(req(['blksize', '1468']), 10, { maxBlksize: 1408, maxWindowsize: 4, maxTimeoutSeconds: 10 });
  t.equal(params.blksize, 1408);
});
