// The state thread: the SQLite store, run for the main thread. SQLite's work (statements,
// commits and their fsyncs, the free-name checks of a claim) happens here, on the core the main
// thread is not using, while the main thread discovers, hashes and places the next files.
// Requests are answered one at a time in the order they came: one writer, as before.
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../thread-errors.js';
import { revived } from '../worker-script.js';
import { SqliteStateStore } from './sqlite-async.js';
import type { StateOpen, StateReply, StateRequest } from './sqlite-messages.js';
import { openSqliteState } from './sqlite-store.js';

const port = parentPort!;
const { statePath, readonly } = workerData as StateOpen;
let store: SqliteStateStore | undefined;
try {
  store = new SqliteStateStore(openSqliteState(statePath, { readonly }));
  port.postMessage({ id: 0, ok: true, value: null } satisfies StateReply);
} catch (error) {
  port.postMessage({ id: 0, ok: false, error: serializeError(error) } satisfies StateReply);
  port.close(); // nothing to answer: let the thread end
}

let queue = Promise.resolve();
port.on('message', (request: StateRequest) => {
  // answer() catches what a call throws; what is left (a reply that cannot be sent) ends the
  // thread, and the main thread fails the calls waiting on it.
  queue = queue
    .then(() => answer(request))
    .catch((error: unknown) => {
      throw error instanceof Error ? error : new Error(String(error));
    });
});

async function answer({ id, method, args }: StateRequest): Promise<void> {
  let reply: StateReply;
  try {
    if (store === undefined) throw new Error('the state is not open');
    const target =
      method === 'historyPage' || method === 'rowsPage' ? store.sync : (store as unknown as object);
    const call = (target as Record<string, (...a: unknown[]) => unknown>)[method]!;
    const value = await call.apply(target, revived(args));
    reply = { id, ok: true, value };
  } catch (error) {
    reply = { id, ok: false, error: serializeError(error) };
  }
  port.postMessage(reply);
  if (method === 'close') port.close();
}
