import { describe, expect, it } from 'vitest';
import type { DaemonControl } from '../../src/api/control.js';
import { ProgressBoard } from '../../src/api/live-figures.js';
import { IngestorEvents } from '../../src/events.js';

const progress = (source: string) => ({
  source,
  bytesDone: 1,
  bytes: 2,
  bytesPerSecond: 1,
  copying: true,
});

describe("the files in flight's progress (ProgressBoard)", () => {
  it('forgets a file at its outcome, and never keeps more than can be in flight, with no page open', () => {
    const events = new IngestorEvents();
    const inFlight = { files: [], total: 0 };
    const board = new ProgressBoard({
      events,
      inFlight: () => inFlight,
    } as unknown as DaemonControl);
    events.emit('file:progress', progress('/in/a'));
    events.emit('file:progress', progress('/in/b'));
    events.emit('file:progress', progress('/in/c'));
    expect(board.size).toBe(3);
    events.emit('file:committed', {
      id: 1,
      source: '/in/a',
      dest: '/wh/a',
      sha256: '',
      bytes: 2,
      ms: 1,
      hashMs: 1,
      manifest: '',
    });
    events.emit('file:failed', { source: '/in/b', error: 'x', code: undefined, kind: 'retry' });
    events.emit('file:cancelled', { id: 'p', source: '/in/c', subject: 'admin' });
    expect(board.size).toBe(0);
    // Files that leave unannounced: the oldest go first, past a bound.
    for (let i = 0; i < 5000; i += 1) events.emit('file:progress', progress(`/in/${i}`));
    expect(board.size).toBe(4096);
    board.close();
    events.emit('file:progress', progress('/in/late'));
    expect(board.size).toBe(4096);
  });
});
