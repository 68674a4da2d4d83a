import { describe, expect, it } from 'vitest';
import { SourceStall } from '../../src/ingest/read-stall.js';
import { SyscallWatch } from '../../src/ingest/syscall-watch.js';

describe('SourceStall (asynchronous reads that give up)', () => {
  it('abandons an operation after the timeout and closes the source only once it returns', async () => {
    let release!: (n: number) => void;
    const hung = new Promise<number>((resolve) => (release = resolve));
    const told: { since: number; returned: Promise<void> }[] = [];
    const stall = new SourceStall('/mnt/a', {
      ms: 20,
      stuck: (since, returned) => told.push({ since, returned }),
    });
    const before = Date.now();
    await expect(stall.run(hung)).rejects.toMatchObject({
      code: 'INGEST_ERR_READ_STALLED',
      message: '/mnt/a made no progress for 0.02 s (a hung mount?); abandoned',
    });
    expect(stall.stuck).toBe(true);
    const closed: string[] = [];
    await stall.close(async () => {
      closed.push('closed');
    });
    expect(closed, 'not while the read is in flight').toEqual([]);
    expect(told).toHaveLength(1);
    expect(told[0]!.since).toBeGreaterThanOrEqual(before);
    release(4096);
    await told[0]!.returned;
    expect(closed).toEqual(['closed']);
  });

  it('an open that comes back late has its descriptor closed then', async () => {
    let release!: (fd: number) => void;
    const opening = new Promise<number>((resolve) => (release = resolve));
    const returned: Promise<void>[] = [];
    const stall = new SourceStall('/mnt/a', { ms: 20, stuck: (_, r) => returned.push(r) });
    const late: number[] = [];
    await expect(
      stall.run(opening, async (fd) => {
        late.push(fd);
      }),
    ).rejects.toMatchObject({ code: 'INGEST_ERR_READ_STALLED' });
    await stall.close(undefined);
    release(17);
    await returned[0];
    expect(late).toEqual([17]);
  });

  it('passes results and errors in time through, and closes at once', async () => {
    const stall = new SourceStall('/mnt/a', { ms: 1_000 });
    expect(await stall.run(Promise.resolve(5))).toBe(5);
    const failure = Object.assign(new Error('EIO'), { code: 'EIO' });
    await expect(stall.run(Promise.reject(failure))).rejects.toBe(failure);
    let closed = false;
    await stall.close(async () => {
      closed = true;
    });
    expect(closed).toBe(true);
    expect(stall.stuck).toBe(false);
  });
});

describe('SyscallWatch', () => {
  it('shows the job a thread is inside a system call for, and for how long', async () => {
    const memory = SyscallWatch.memory();
    const watch = new SyscallWatch(memory);
    const fence = new SyscallWatch(memory).fenceFor(42);
    expect(watch.inside()).toBeUndefined();
    fence.enter();
    await new Promise((r) => setTimeout(r, 30));
    const inside = watch.inside()!;
    expect(inside.job).toBe(42);
    expect(inside.ms).toBeGreaterThanOrEqual(25);
    fence.leave();
    expect(watch.inside()).toBeUndefined();
  });
});
