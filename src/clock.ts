/** The time source, passed in so that tests control it. Milliseconds since the epoch. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
