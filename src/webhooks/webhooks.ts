import os from 'node:os';
import { describeError } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { Logger } from '../ops/logger.js';
import type { WebhookFigures } from '../ops/metrics.js';
import { ingestorVersion } from '../ops/metrics.js';
import type { OutboxMessage, StateStore } from '../state/store.js';
import { WebhookDispatcher } from './dispatcher.js';
import type { WebhookEndpoint, WebhookEventType } from './endpoints.js';
import { takes } from './endpoints.js';
import { messageId } from './sign.js';

/** Announcements that could not be written (the state volume is full) are tried again this often. */
const REWRITE_MS = 5_000;

/**
 * The daemon's webhooks: what it announces (`announce` builds a message per endpoint that takes
 * the event, for a caller to write in its own transaction; `publish` writes one alone) and the
 * dispatcher that delivers the outbox. Pauses, resumes, the start and the stop are announced
 * from the daemon's events; a quarantine and an hour's close write theirs with their state change.
 * With no `--webhook`, nothing is written and nothing runs.
 */
export class Webhooks {
  readonly #endpoints: readonly WebhookEndpoint[];
  readonly #store: StateStore;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly dispatcher: WebhookDispatcher;
  /** Announcements waiting to be written again. */
  #unwritten: OutboxMessage[] = [];
  #rewriteTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #daemon = { host: os.hostname(), pid: process.pid, version: ingestorVersion() };

  constructor(
    endpoints: readonly WebhookEndpoint[],
    store: StateStore,
    logger: Logger,
    clock: () => number = Date.now,
  ) {
    this.#endpoints = endpoints;
    this.#store = store;
    this.#logger = logger;
    this.#clock = clock;
    const scale = Number(process.env.INGEST_TEST_WEBHOOK_BACKOFF_SCALE ?? '1') || 1;
    this.dispatcher = new WebhookDispatcher(store, endpoints, logger, clock, scale);
  }

  get enabled(): boolean {
    return this.#endpoints.length > 0;
  }

  /** What the metrics read: failing endpoints, and the messages waiting, by endpoint label. */
  figures(): WebhookFigures {
    return {
      failing: this.dispatcher.failing,
      pending: async () => {
        const byUrl = await this.#store.pendingDeliveries();
        return new Map(this.#endpoints.map((e) => [e.label, byUrl.get(e.url) ?? 0]));
      },
    };
  }

  /**
   * The messages of one event, one per endpoint that takes it, with one `webhook-id`: for the
   * caller to write in the transaction of what it announces. None without webhooks.
   */
  announce(type: WebhookEventType, data: Record<string, unknown>): OutboxMessage[] {
    const to = this.#endpoints.filter((e) => takes(e, type));
    if (to.length === 0) return [];
    const msgId = messageId();
    const body = JSON.stringify({
      type,
      timestamp: new Date(this.#clock()).toISOString(),
      data: { ...data, daemon: this.#daemon },
    });
    return to.map((e) => ({ msgId, endpoint: e.url, type, body }));
  }

  /** Messages were written (by whoever wrote them): deliver them now. */
  written(): void {
    if (this.enabled) this.dispatcher.notify();
  }

  /** Writes an event's messages in a transaction of their own; kept and tried again if it fails. */
  async publish(type: WebhookEventType, data: Record<string, unknown>): Promise<void> {
    const messages = this.announce(type, data);
    if (messages.length === 0) return;
    await this.#write(messages);
  }

  async #write(messages: OutboxMessage[]): Promise<void> {
    try {
      await this.#store.announce(messages, this.#clock());
      this.written();
    } catch (error) {
      // The state cannot be written now (a full volume pauses ingestion too): kept in memory.
      this.#logger.warn(
        { err: describeError(error), types: [...new Set(messages.map((m) => m.type))] },
        'cannot write a webhook announcement yet; trying again',
      );
      this.#unwritten.push(...messages);
      this.#rewriteTimer ??= setTimeout(() => {
        this.#rewriteTimer = undefined;
        const again = this.#unwritten.splice(0);
        if (again.length > 0) void this.#write(again);
      }, REWRITE_MS);
      this.#rewriteTimer.unref();
    }
  }

  /** Announces pauses and resumes (a volume's or an operator's) and starts delivering. */
  start(events: IngestorEvents): void {
    if (!this.enabled) return;
    this.dispatcher.onAttempt = (endpoint, outcome) =>
      events.emit('webhook:attempt', { endpoint, outcome });
    // Each stop and each end, as the log says them: a failing volume's pause (renewed at each
    // retry: announced once) and the free-space floor's are two, each with its own end.
    const paused = (e: { reason: string; code: string | undefined; renewed?: boolean }) => {
      if (e.renewed === true) return;
      void this.publish('ingestor.paused', {
        kind: 'volume',
        reason: e.reason,
        code: e.code ?? null,
      });
    };
    const resumed = (e: { pausedMs: number }) =>
      void this.publish('ingestor.resumed', { kind: 'volume', pausedMs: e.pausedMs });
    const operatorPaused = (e: { subject: string; since: number }) =>
      void this.publish('ingestor.paused', {
        kind: 'operator',
        reason: `paused by an operator (${e.subject})`,
        actor: e.subject,
        since: new Date(e.since).toISOString(),
      });
    const operatorResumed = (e: { subject: string; pausedMs: number }) =>
      void this.publish('ingestor.resumed', {
        kind: 'operator',
        actor: e.subject,
        pausedMs: e.pausedMs,
      });
    events.on('pipeline:paused', paused);
    events.on('pipeline:resumed', resumed);
    events.on('operator:paused', operatorPaused);
    events.on('operator:resumed', operatorResumed);
    this.#unsubscribe = () => {
      events.off('pipeline:paused', paused);
      events.off('pipeline:resumed', resumed);
      events.off('operator:paused', operatorPaused);
      events.off('operator:resumed', operatorResumed);
    };
    this.dispatcher.start();
  }

  /** Announces the stop, gives its delivery up to `graceMs`, and stops delivering. */
  async stop(summary: Record<string, unknown>, graceMs: number): Promise<void> {
    if (!this.enabled) return;
    this.#unsubscribe?.();
    clearTimeout(this.#rewriteTimer);
    await this.publish('ingestor.stopped', summary);
    await this.dispatcher.stop(graceMs);
  }
}
