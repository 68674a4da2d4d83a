import { describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import { Throughput } from '../../src/orchestrator/throughput.js';

describe('throughput', () => {
  it('counts quarantines from file:quarantined, each once, and failures by class', () => {
    const events = new IngestorEvents();
    let now = 1_000_000;
    const t = new Throughput(() => now, events);
    const quarantined = (id: number) =>
      events.emit('file:quarantined', { id, source: `/in/${id}`, dest: null, reason: 'EACCES' });
    const failed = (kind: 'retry' | 'quarantine' | 'pause') =>
      events.emit('file:failed', { source: '/in/f', error: 'EIO', code: 'EIO', kind });
    quarantined(1);
    quarantined(2);
    failed('retry');
    // A failure of the quarantine class whose quarantine failed: not quarantined, not counted.
    failed('quarantine');
    failed('pause');
    now += 10_000;
    const w = t.window(60);
    expect(w.failures).toEqual({ changed: 0, retry: 1, quarantine: 2, pause: 1 });
    expect(w.failureRate.quarantine).toBeCloseTo(2 / 4);
    expect(t.window(5).failures.quarantine).toBe(0);
  });
});
