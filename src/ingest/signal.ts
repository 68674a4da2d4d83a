/**
 * A wake-up that any number of waiters share: `wait()` resolves at the next `notify()`. Waiters
 * check their condition again when it resolves, so a notify that changes nothing for one of
 * them costs it a turn of the event loop, and a waiter never sleeps past a change it waits for
 * (a timer that polls would, by up to its period, and would run while nothing changes).
 */
export class Signal {
  #waiting: { promise: Promise<void>; wake: () => void } | undefined;

  /** Resolves at the next `notify()`. */
  wait(): Promise<void> {
    if (this.#waiting === undefined) {
      let wake!: () => void;
      const promise = new Promise<void>((resolve) => {
        wake = resolve;
      });
      this.#waiting = { promise, wake };
    }
    return this.#waiting.promise;
  }

  /** Wakes every waiter; later waiters wait for the next notify. */
  notify(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.wake();
  }
}
