/**
 * A wake-up that any number of waiters share: `wait()` resolves, and `onNext` listeners run, at
 * the next `notify()`. Waiters check their condition again when woken, so a notify that changes
 * nothing for one of them costs it a turn of the event loop, and a waiter never sleeps past a
 * change it waits for (a timer that polls would, by up to its period, and would run while
 * nothing changes).
 */
export class Signal {
  readonly #listeners = new Set<() => void>();

  /** Resolves at the next `notify()`. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.onNext(resolve);
    });
  }

  /**
   * Resolves at the next `notify()` or after `ms`, whichever comes first; the listener or the
   * timer left over is removed (a waiter that loops on a timeout leaves nothing behind).
   * `ref: false`: the timer does not keep the process alive.
   */
  waitAtMost(ms: number, ref = true): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        remove();
        resolve();
      }, ms);
      if (!ref) timer.unref();
      const remove = this.onNext(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Calls `listener` once, at the next `notify()`; returns what removes it before then (a
   * waiter that stops waiting for other reasons removes it, so none pile up).
   */
  onNext(listener: () => void): () => void {
    const once = () => listener();
    this.#listeners.add(once);
    return () => this.#listeners.delete(once);
  }

  /** Wakes every waiter; later waiters wait for the next notify. */
  notify(): void {
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }
}
