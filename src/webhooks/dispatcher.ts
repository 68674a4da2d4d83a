import { describeError } from '../errors.js';
import { Signal } from '../ingest/signal.js';
import type { Logger } from '../ops/logger.js';
import type { Delivery, StateStore } from '../state/store.js';
import type { WebhookEndpoint } from './endpoints.js';
import { webhookHeaders } from './sign.js';

/** Each attempt gives up after this long (the receiver may be slow, never ingestion). */
export const ATTEMPT_TIMEOUT_MS = 10_000;

/** A message is tried for this long after it was written, then given up. */
export const GIVE_UP_AFTER_MS = 3 * 24 * 3600 * 1000;

/** Retries start after 5 s and double, with full jitter, up to 4 h apart. */
const RETRY_BASE_MS = 5_000;
const RETRY_CAP_MS = 4 * 3600 * 1000;

/** At most this many attempts run at once per endpoint. */
const PER_ENDPOINT = 4;

/** Messages read from the outbox per look. */
const PAGE = 64;

/** The outbox is read again after this long when it could not be. */
const STATE_RETRY_MS = 5_000;

/** A failing endpoint is reported again at most this often while it keeps failing. */
const REPORT_EVERY_MS = 5 * 60 * 1000;

/** The outbox as the dispatcher needs it (the state store). */
export type Outbox = Pick<StateStore, 'dueDeliveries' | 'deliveryAttempted' | 'nextDeliveryAt'>;

/** The wait before attempt `attempts + 1`: exponential, full jitter, capped. */
export function retryDelayMs(attempts: number, scale = 1, random = Math.random): number {
  const nominal = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(nominal * (0.5 + random() / 2) * scale);
}

interface EndpointState {
  readonly endpoint: WebhookEndpoint;
  running: number;
  /** Since when it fails (undefined: it answers); when that was last said. */
  failingSince: number | undefined;
  reportedAt: number;
  lastError: string;
}

/**
 * Delivers the outbox's messages to their endpoints, at least once, apart from ingestion: its
 * own loop, a few attempts at a time per endpoint, 10 s each, never awaited by anything that
 * ingests. A message keeps its `webhook-id` on every attempt and is signed again at each (the
 * timestamp is the attempt's). A failure is tried again with backoff for up to three days; an
 * endpoint that keeps failing is said in a warn line (again every five minutes) and in the
 * metrics, and said again when it answers.
 */
export class WebhookDispatcher {
  readonly #outbox: Outbox;
  readonly #endpoints = new Map<string, EndpointState>();
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #wake = new Signal();
  readonly #scale: number;
  #stopped = false;
  #loop: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** The messages being attempted now: not picked again until their attempt ends. */
  readonly #busy = new Set<number>();
  /** Attempts whose outcome could not be recorded: not picked again before this time. */
  readonly #unrecorded = new Map<number, number>();
  /** Set by `notify`: something changed while the loop was looking. */
  #dirty = false;
  /** Why the outbox cannot be read now (said once per episode). */
  #stateError: string | undefined;
  /** Endpoint label -> whether its last attempt failed (a metric). */
  readonly failing = new Map<string, boolean>();
  /** Told of each attempt's outcome (a metric). */
  onAttempt: (endpoint: string, outcome: 'delivered' | 'failed' | 'gave-up') => void = () => {};

  constructor(
    outbox: Outbox,
    endpoints: readonly WebhookEndpoint[],
    logger: Logger,
    clock: () => number = Date.now,
    /** Tests shorten the backoff (INGEST_TEST_WEBHOOK_BACKOFF_SCALE). */
    scale = 1,
  ) {
    this.#outbox = outbox;
    this.#logger = logger;
    this.#clock = clock;
    this.#scale = scale;
    for (const endpoint of endpoints) {
      this.#endpoints.set(endpoint.url, {
        endpoint,
        running: 0,
        failingSince: undefined,
        reportedAt: 0,
        lastError: '',
      });
      this.failing.set(endpoint.label, false);
    }
  }

  /** New messages were written, or an attempt ended: look at once. */
  notify(): void {
    this.#dirty = true;
    this.#wake.notify();
  }

  start(): void {
    if (this.#endpoints.size === 0) return;
    this.#loop = this.#run().catch((error: unknown) => {
      this.#logger.error({ err: describeError(error) }, 'webhook deliveries stopped');
    });
  }

  /** Stops looking; waits up to `graceMs` for attempts under way (a stop's last message). */
  async stop(graceMs = 0): Promise<void> {
    if (graceMs > 0 && !this.#stopped) {
      // One more look, so that a message written just now (ingestor.stopped) gets its try.
      this.notify();
      const until = this.#clock() + graceMs;
      while (this.#clock() < until && (await this.#hasDue())) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.#stopped = true;
    this.notify();
    await this.#loop;
    await Promise.race([
      Promise.all(this.#inFlight),
      new Promise((r) => setTimeout(r, graceMs).unref()),
    ]);
  }

  async #hasDue(): Promise<boolean> {
    if (this.#inFlight.size > 0) return true;
    const next = await this.#outbox.nextDeliveryAt(
      [...this.#endpoints.keys()],
      this.#skipped(this.#clock()),
    );
    return next !== undefined && next <= this.#clock();
  }

  /** The ids not to pick now: attempts running, and those whose outcome could not be recorded. */
  #skipped(now: number): number[] {
    for (const [id, until] of this.#unrecorded) if (until <= now) this.#unrecorded.delete(id);
    return [...this.#busy, ...this.#unrecorded.keys()];
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#dirty = false;
      let wait: number;
      try {
        wait = await this.#dispatchDue();
        if (this.#stateError !== undefined) {
          this.#logger.info({ event: 'webhook-state-back' }, 'webhook deliveries go on');
          this.#stateError = undefined;
        }
      } catch (error) {
        // The state cannot be read now (a thread restarting, a full volume): try again soon.
        const message = describeError(error);
        if (this.#stateError === undefined) {
          this.#logger.warn(
            { event: 'webhook-state-error', err: message },
            `cannot read the webhooks' outbox (${message}); trying again in 5 s`,
          );
        }
        this.#stateError = message;
        wait = STATE_RETRY_MS;
      }
      if (this.#stopped) break;
      if (wait <= 0 || this.#dirty) continue;
      await this.#wake.waitAtMost(Math.max(wait, 10), false);
    }
  }

  /** Starts the attempts due now; returns how long to sleep before the next is due. */
  async #dispatchDue(): Promise<number> {
    const now = this.#clock();
    const free = [...this.#endpoints.values()].filter((e) => e.running < PER_ENDPOINT);
    const urls = free.map((e) => e.endpoint.url);
    const due =
      urls.length === 0
        ? []
        : await this.#outbox.dueDeliveries(now, urls, PAGE, this.#skipped(now));
    for (const delivery of due) {
      const state = this.#endpoints.get(delivery.endpoint);
      if (state === undefined || state.running >= PER_ENDPOINT) continue;
      state.running += 1;
      this.#busy.add(delivery.id);
      const attempt: Promise<void> = this.#attempt(state, delivery)
        .catch((error: unknown) => {
          // Sent, but its outcome not recorded (the state cannot be written): not picked again
          // before its backoff, or it would be sent again at once, over and over.
          this.#unrecorded.set(
            delivery.id,
            this.#clock() + retryDelayMs(delivery.attempts + 1, this.#scale),
          );
          this.#logger.warn(
            { err: describeError(error), webhookId: delivery.msgId },
            'cannot record a webhook attempt; it is tried again later',
          );
        })
        .finally(() => {
          state.running -= 1;
          this.#busy.delete(delivery.id);
          this.#inFlight.delete(attempt);
          this.notify();
        });
      this.#inFlight.add(attempt);
    }
    // Sleep until the next message not being attempted is due, an attempt ends, or new ones
    // are written; at most 30 s (another process may have written: `ctl webhooks redeliver`).
    // An endpoint with all its attempts running is looked at again when one ends.
    const open = [...this.#endpoints.values()]
      .filter((e) => e.running < PER_ENDPOINT)
      .map((e) => e.endpoint.url);
    const next =
      open.length === 0
        ? undefined
        : await this.#outbox.nextDeliveryAt(open, this.#skipped(this.#clock()));
    const held = Math.min(...this.#unrecorded.values());
    const at = Math.min(next ?? Infinity, held);
    return at === Infinity ? 30_000 : Math.min(30_000, at - this.#clock());
  }

  async #attempt(state: EndpointState, delivery: Delivery): Promise<void> {
    const { endpoint } = state;
    let status: number | null = null;
    let error: string | null = null;
    try {
      // Signed at the wall clock's time: receivers compare it with theirs.
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: webhookHeaders(endpoint.key, delivery.msgId, delivery.body, Date.now()),
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      status = response.status;
      // The body is not read beyond a little: a receiver's answer is its status.
      await response.body?.cancel().catch(() => {});
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (cause) {
      error = describeError((cause as { cause?: unknown }).cause ?? cause);
      if ((cause as Error).name === 'TimeoutError') {
        error = `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`;
      }
    }
    const at = this.#clock();
    if (error === null) {
      this.onAttempt(endpoint.label, 'delivered');
      await this.#outbox.deliveryAttempted(delivery.id, { ok: true, status: status!, at });
      this.#answering(state, at);
      return;
    }
    const attempts = delivery.attempts + 1;
    const retryAt = at + retryDelayMs(attempts, this.#scale);
    const gaveUp = retryAt - delivery.createdAt > GIVE_UP_AFTER_MS * this.#scale;
    this.onAttempt(endpoint.label, gaveUp ? 'gave-up' : 'failed');
    await this.#outbox.deliveryAttempted(delivery.id, {
      ok: false,
      status,
      error,
      at,
      nextAt: gaveUp ? null : retryAt,
    });
    this.#failing(state, delivery, error, attempts, gaveUp ? null : retryAt, at);
  }

  #failing(
    state: EndpointState,
    delivery: Delivery,
    error: string,
    attempts: number,
    retryAt: number | null,
    at: number,
  ): void {
    const { label } = state.endpoint;
    state.lastError = error;
    this.failing.set(label, true);
    const first = state.failingSince === undefined;
    state.failingSince ??= at;
    if (retryAt === null) {
      this.#logger.error(
        {
          event: 'webhook-gave-up',
          endpoint: label,
          webhookId: delivery.msgId,
          type: delivery.type,
          attempts,
          err: error,
        },
        `webhook ${label}: gave up on ${delivery.type} ${delivery.msgId} after ${attempts} attempts over three days (${error}); ingestor ctl webhooks redeliver ${delivery.id} sends it again`,
      );
      return;
    }
    if (!first && at - state.reportedAt < REPORT_EVERY_MS) return;
    state.reportedAt = at;
    this.#logger.warn(
      {
        event: 'webhook-failing',
        endpoint: label,
        webhookId: delivery.msgId,
        type: delivery.type,
        attempts,
        err: error,
        since: new Date(state.failingSince).toISOString(),
        retryAt: new Date(retryAt).toISOString(),
      },
      `webhook ${label} is failing: ${error} (${delivery.type}, attempt ${attempts}); trying again at ${new Date(retryAt).toISOString()}; ingestion goes on`,
    );
  }

  #answering(state: EndpointState, at: number): void {
    if (state.failingSince === undefined) return;
    const { label } = state.endpoint;
    this.#logger.info(
      { event: 'webhook-recovered', endpoint: label, failedMs: at - state.failingSince },
      `webhook ${label} answers again`,
    );
    state.failingSince = undefined;
    this.failing.set(label, false);
  }
}
