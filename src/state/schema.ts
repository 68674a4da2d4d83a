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
];
