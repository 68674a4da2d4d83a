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
