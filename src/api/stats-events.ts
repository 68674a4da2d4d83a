import type { FastifyBaseLogger } from 'fastify';
import type { IngestorEventMap } from '../events.js';
import type { DaemonControl } from './control.js';
import { STREAM_LIMITS } from './stream-client.js';

type Committed = IngestorEventMap['file:committed'][0];

/**
 * The stream's `stats` event, every second while a client streams: the rates since the last
 * one, the queue, the pause, and what `figures` gives (the dashboard's overview:
 * live-figures.ts). The figures read the state and the volumes: a hung volume (a statfs on a
 * stuck NFS mount) must not stop the events, nor pile up reads. While a read is under way,
 * events go out without figures; one that takes longer than a second goes out without.
 */
export class StatsEvents {
  readonly #control: DaemonControl;
  readonly #log: FastifyBaseLogger;
  readonly #figures: () => Promise<Record<string, unknown>>;
  readonly #publish: (data: Record<string, unknown>) => void;
  readonly #committed = (e: Committed) => {
    this.#ingested.files += 1;
    this.#ingested.bytes += e.bytes;
  };
  #timer: NodeJS.Timeout | undefined;
  /** Files and bytes ingested so far, and at the last stats event: the rates' source. */
  #ingested = { files: 0, bytes: 0 };
  #last = { at: 0, files: 0, bytes: 0 };
  /** The figures being read: never two reads at once. */
  #figuresUnderWay = false;
  /** Logged once until figures are read again. */
  #figuresFailed = false;
  #closed = false;

  constructor(
    control: DaemonControl,
    log: FastifyBaseLogger,
    figures: () => Promise<Record<string, unknown>>,
    publish: (data: Record<string, unknown>) => void,
  ) {
    this.#control = control;
    this.#log = log;
    this.#figures = figures;
    this.#publish = publish;
    control.events.on('file:committed', this.#committed);
  }

  /** Sends an event every second from now on, if it does not already. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#last = { at: Date.now(), ...this.#ingested };
    this.#timer = setInterval(() => this.#tick(), STREAM_LIMITS.statsMs);
    this.#timer.unref();
  }

  /** No client streams: no events until the next `start`. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.#closed = true;
    this.stop();
    this.#control.events.off('file:committed', this.#committed);
  }

  #tick(): void {
    if (this.#figuresUnderWay) {
      this.#send({});
      return;
    }
    this.#figuresUnderWay = true;
    let sent = false;
    const send = (figures: Record<string, unknown>) => {
      if (sent || this.#closed) return;
      sent = true;
      this.#send(figures);
    };
    const late = setTimeout(() => send({}), STREAM_LIMITS.statsMs);
    late.unref();
    void this.#figures()
      .then(
        (figures) => {
          this.#figuresFailed = false;
          send(figures);
        },
        (error: unknown) => {
          if (!this.#figuresFailed) {
            this.#log.warn(
              { event: 'api-stats-figures-failed', err: error },
              `stats events go out without counts and resources: ${(error as Error).message}`,
            );
          }
          this.#figuresFailed = true;
          send({});
        },
      )
      .finally(() => {
        clearTimeout(late);
        this.#figuresUnderWay = false;
      });
  }

  #send(figures: Record<string, unknown>): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#last.at) / 1000);
    const { files, bytes } = this.#ingested;
    const queue = this.#control.queue();
    // An operator's pause first, as /v1/status shows it; then a failing volume's.
    const operator = this.#control.operatorPause();
    const paused =
      operator === undefined ? this.#control.pausedReason() : `by an operator (${operator.by})`;
    this.#publish({
      at: now,
      filesPerSecond: Math.round(((files - this.#last.files) / seconds) * 1000) / 1000,
      bytesPerSecond: Math.round((bytes - this.#last.bytes) / seconds),
      queued: queue.queued,
      inflight: queue.inflight,
      pending: queue.pending,
      paused: paused !== undefined,
      pausedReason: paused ?? null,
      ...figures,
    });
    this.#last = { at: now, files, bytes };
  }
}
