import { describe, expect, it } from 'vitest';
import { PriorityLimit } from '../../src/orchestrator/priority-limit.js';
import { createPriorityOf } from '../../src/watch/filters.js';

/** A task that records its start and ends when told. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { done, open };
}

describe('PriorityLimit', () => {
  it('starts the highest priority first, then the oldest, then the first to come', async () => {
    const limit = new PriorityLimit(1);
    const started: string[] = [];
    const first = gate();
    // The first runs at the highest priority: nothing may start past it.
    const runs = [limit.run(10, 0, () => first.done.then(() => void started.push('first')))];
    const add = (name: string, priority: number, order: number) =>
      runs.push(limit.run(priority, order, async () => void started.push(name)));
    add('low-new', 0, 300);
    add('low-old', 0, 100);
    add('high-new', 5, 900);
    add('low-old-2', 0, 100);
    add('high-old', 5, 200);
    add('urgent', 9, 999);
    expect(limit.pendingCount).toBe(6);
    expect(limit.pendingAtLeast(5)).toBe(3);
    expect([...limit.pendingByPriority()].sort()).toEqual([
      [0, 3],
      [5, 2],
      [9, 1],
    ]);
    first.open();
    await Promise.all(runs);
    expect(started).toEqual([
      'first',
      'urgent',
      'high-old',
      'high-new',
      'low-old',
      'low-old-2',
      'low-new',
    ]);
    expect(limit.pendingCount).toBe(0);
    expect(limit.pendingByPriority().size).toBe(0);
  });

  it('starts a task of a higher priority than a running one at once, past the bound by an eighth', async () => {
    const limit = new PriorityLimit(8);
    const low = Array.from({ length: 8 }, gate);
    const runs = low.map((g, i) => limit.run(0, i, () => g.done));
    const waiting = limit.run(0, 99, async () => 'low');
    expect(limit.activeCount).toBe(8);
    const urgent = gate();
    const first = limit.run(5, 0, () => urgent.done);
    expect(limit.activeCount).toBe(9);
    // The overdraft is used up: the next urgent one waits, but ahead of the low one.
    const order: string[] = [];
    const second = limit.run(5, 1, async () => void order.push('urgent'));
    void waiting.then(() => order.push('low'));
    expect(limit.activeCount).toBe(9);
    expect(limit.pendingCount).toBe(2);
    urgent.open();
    await first;
    for (const g of low) g.open();
    await Promise.all([...runs, second, waiting]);
    expect(order).toEqual(['urgent', 'low']);
  });

  it('runs at most its concurrency at once, and more as soon as it grows', async () => {
    const limit = new PriorityLimit(2);
    const gates = Array.from({ length: 5 }, gate);
    let running = 0;
    let most = 0;
    const runs = gates.map((g, i) =>
      limit.run(0, i, async () => {
        running += 1;
        most = Math.max(most, running);
        await g.done;
        running -= 1;
      }),
    );
    expect(limit.activeCount).toBe(2);
    limit.concurrency = 4;
    expect(limit.activeCount).toBe(4);
    for (const g of gates) g.open();
    await Promise.all(runs);
    expect(most).toBe(4);
  });

  it('passes on a failure without losing the slot', async () => {
    const limit = new PriorityLimit(1);
    await expect(limit.run(0, 0, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit.run(0, 0, async () => 7)).resolves.toBe(7);
  });
});

describe('--priority rules', () => {
  it('the first rule that matches, by whole relative path or by bare name; else 0', () => {
    const priorityOf = createPriorityOf([
      { glob: 'orders/*.csv', priority: 10 },
      { glob: '*.csv', priority: 5 },
      { glob: 'bulk/**', priority: -3 },
    ]);
    expect(priorityOf('orders/a.csv')).toBe(10);
    expect(priorityOf('other/a.csv')).toBe(5);
    expect(priorityOf('a.csv')).toBe(5);
    expect(priorityOf('bulk/x/y.json')).toBe(-3);
    expect(priorityOf('a.json')).toBe(0);
    expect(createPriorityOf([])('anything')).toBe(0);
  });
});
