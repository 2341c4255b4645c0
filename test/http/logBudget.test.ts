// LogBudget: the first lines of a window per source are written, the rest counted; a window that
// held lines back is summarised when the source's next window starts or when drained.
import t from 'tap';
import { LogBudget, OTHER_SOURCES } from '../../agent/http/logBudget.js';

t.test('per source and window: N lines, then counted; the next window reports the count', async (t) => {
  const budget = new LogBudget({ linesPerWindow: 3, windowMs: 60_000 });
  const writes = [0, 1, 2, 3, 4].map((i) => budget.take('a', 1000 + i).write);
  t.same(writes, [true, true, true, false, false]);
  t.same(budget.take('b', 1010), { write: true }, 'another source has its own budget');
  t.same(budget.take('a', 61_000), { write: true, ended: { source: 'a', suppressed: 2 } }, 'a new window starts with the summary of the last');
  t.same(budget.take('a', 61_001), { write: true }, 'and counts afresh');
});

t.test('drain: windows ended by now, and every one for Infinity', async (t) => {
  const budget = new LogBudget({ linesPerWindow: 1, windowMs: 1000 });
  budget.take('a', 0);
  budget.take('a', 1);
  budget.take('a', 2);
  budget.take('b', 500);
  budget.take('c', 900);
  budget.take('c', 901);
  t.same(budget.drain(999), [], 'no window has ended');
  t.same(budget.drain(1000), [{ source: 'a', suppressed: 2 }], 'a ended with two held back; b ended with none');
  t.same(budget.drain(Number.POSITIVE_INFINITY), [{ source: 'c', suppressed: 1 }]);
  t.same(budget.drain(Number.POSITIVE_INFINITY), [], 'drained windows are forgotten');
  t.same(budget.take('a', 5000), { write: true }, 'a drained source starts a fresh window');
});

t.test('past maxSources, new sources share one budget', async (t) => {
  const budget = new LogBudget({ linesPerWindow: 2, windowMs: 1000, maxSources: 2 });
  budget.take('a', 0);
  budget.take('b', 0);
  t.same([budget.take('c', 0).write, budget.take('d', 0).write, budget.take('e', 0).write], [true, true, false]);
  t.same(budget.drain(Number.POSITIVE_INFINITY), [{ source: OTHER_SOURCES, suppressed: 1 }]);
});

t.test('zero lines per window: everything is counted', async (t) => {
  const budget = new LogBudget({ linesPerWindow: 0, windowMs: 1000 });
  t.equal(budget.take('a', 0).write, false);
  t.same(budget.drain(1000), [{ source: 'a', suppressed: 1 }]);
});
