/** Schema migrations, applied in order; `PRAGMA user_version` is the number applied. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('ingest', 'duplicate', 'quarantine')),
    status TEXT NOT NULL
      CHECK (status IN ('intent', 'committed', 'aborted', 'vanished', 'released')),
    sha256 TEXT NOT NULL,
    source BLOB NOT NULL,
    dest BLOB NOT NULL,
    tmp BLOB,
    manifest TEXT,
    sidecar BLOB,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ms REAL NOT NULL,
    duplicate_of INTEGER,
    intent_at INTEGER NOT NULL,
    committed_at INTEGER,
    completed_at INTEGER,
    hash_ms REAL,
    error TEXT
  );
  -- The exactly-once rule, enforced by the database itself: one live ingest per content.
  CREATE UNIQUE INDEX files_one_ingest_per_content ON files (sha256)
    WHERE kind = 'ingest' AND status IN ('intent', 'committed');
  CREATE INDEX files_open_intents ON files (id) WHERE status = 'intent';
  CREATE INDEX files_by_time ON files (intent_at);
  CREATE INDEX files_quarantined ON files (id) WHERE kind = 'quarantine' AND status = 'committed';
  -- What the running daemon last said about itself (pending files live in its memory).
  CREATE TABLE runtime (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
  `,
  // v2: the exactly-once rule on a column that a commit does not change. The v1 index named
  // `status` in its WHERE clause, so every commit (intent -> committed) rewrote its entry: one
  // random index page per file, written to the WAL and checkpointed again (docs/BENCHMARKS.md).
  // `live_sha256` holds the raw digest of an ingest while it is an intent or committed, NULL
  // otherwise (aborted, vanished; duplicates and quarantines never have one).
  `
  ALTER TABLE files ADD COLUMN live_sha256 BLOB;
  UPDATE files SET live_sha256 = unhex(sha256)
    WHERE kind = 'ingest' AND status IN ('intent', 'committed');
  DROP INDEX files_one_ingest_per_content;
  CREATE UNIQUE INDEX files_one_live_ingest_per_content ON files (live_sha256)
    WHERE live_sha256 IS NOT NULL;
  `,
  // v3: the control API's journal. `events` holds only what the ordinary path does not (a
  // failure, a retry, a hold, a cancel, a release, an operator's pause or limits): a file's
  // ordinary history is read from its row (docs/DESIGN.md). `file_id` is the file's row when it
  // has one; a file that has none yet (failed before its claim, held while pending) is known by
  // `source`. `holds` keeps the files an operator held, and `settings` what an operator set that
  // outlives a restart (the operator's pause).
  `
  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    file_id INTEGER,
    source BLOB,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    detail TEXT
  );
  CREATE INDEX events_by_file ON events (file_id) WHERE file_id IS NOT NULL;
  CREATE INDEX events_by_source ON events (source) WHERE source IS NOT NULL;
  CREATE INDEX events_by_time ON events (at);
  CREATE TABLE holds (
    source BLOB PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ms REAL NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, at INTEGER NOT NULL);
  `,
  // v4: closed hours (issue 13). One row per hour closed, in order: its manifest as closed (what
  // its `_SUCCESS` says). The first hour to close is a setting (`closing-hours-from`), recorded
  // at the first start of a daemon that closes hours, so that it writes no `_SUCCESS` for hours
  // before it existed.
  `
  CREATE TABLE closed_hours (
    hour INTEGER PRIMARY KEY,
    manifest TEXT NOT NULL,
    lines INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    closed_at INTEGER NOT NULL
  );
  `,
  // v5: the webhooks' outbox (issue 13). One row per message and endpoint, written in the
  // transaction of what it announces; `next_at` is when a pending one is tried next. `file_id`:
  // the quarantine it announces, written with its intent, sent once that row is committed
  // (by the daemon or by recovery), deleted if it is not.
  `
  CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER,
    status TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    file_id INTEGER
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox (endpoint, next_at) WHERE status = 'pending';
  `,
];
