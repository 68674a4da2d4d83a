/**
 * The PostgreSQL state's migrations, applied in order at start, all in one transaction under an
 * advisory lock (connect.ts), so that daemons starting at once migrate once. `schema_version`
 * holds the number applied. The tables mirror the SQLite state's (../schema.ts), with what
 * several daemons need beside them:
 *
 * - `nodes`: one row per daemon (`--node-id`), its lease (a deadline on the database's clock,
 *   renewed while it works) and its fencing token (a fresh one from `fencing` at each start);
 * - `files.node_id`, `files.token`: who claimed an intent and under which token; a survivor that
 *   takes an intent over writes its own token, so the late owner's commit matches nothing;
 * - `settled_xid` / `xid`: the transaction that settled a row or wrote an event. The event
 *   stream reads only what every transaction older than its snapshot's xmin wrote, so that a
 *   row committed by another daemon's slower transaction is read in its turn, never skipped.
 *
 * Paths are BYTEA (bytes, as the filesystem has them), times BIGINT milliseconds of the
 * daemon's clock, except lease deadlines, which are the database's (one clock for every host).
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE SEQUENCE fencing;
  CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    token BIGINT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    -- The first millisecond of the oldest hour a batch in its memory holds (or, with none, of
    -- the hour it is in): no hour from that one on may close while its lease is live.
    holds_hour_from BIGINT,
    stopped_at BIGINT,
    -- Its --input: the input is shared among the daemons that have the same one.
    input TEXT
  );
  CREATE TABLE files (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('ingest', 'duplicate', 'quarantine')),
    status TEXT NOT NULL
      CHECK (status IN ('intent', 'committed', 'aborted', 'vanished', 'released')),
    sha256 TEXT NOT NULL,
    live_sha256 BYTEA,
    source BYTEA NOT NULL,
    dest BYTEA NOT NULL,
    tmp BYTEA,
    manifest TEXT,
    sidecar BYTEA,
    device BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ms DOUBLE PRECISION NOT NULL,
    duplicate_of BIGINT,
    intent_at BIGINT NOT NULL,
    committed_at BIGINT,
    completed_at BIGINT,
    hash_ms DOUBLE PRECISION,
    error TEXT,
    node_id TEXT,
    token BIGINT,
    -- Taken over from another daemon: settled by a takeover pass, however many it takes.
    taken_over BOOLEAN NOT NULL DEFAULT false,
    settled_xid xid8
  );
  -- The exactly-once rule, enforced by the database itself: one live ingest per content.
  CREATE UNIQUE INDEX files_one_live_ingest_per_content ON files (live_sha256)
    WHERE live_sha256 IS NOT NULL;
  -- No two intents share a destination: each daemon picks free names on its own, and a name is
  -- free on disk until its intent's file is placed there.
  CREATE UNIQUE INDEX files_one_intent_per_dest ON files (dest)
    WHERE status = 'intent' AND length(dest) > 0;
  -- A claim gives no name a committed row holds, even one a slow lstat sees free.
  CREATE INDEX files_by_dest ON files (dest);
  CREATE INDEX files_open_intents ON files (id) WHERE status = 'intent';
  -- A source with an open intent (a daemon killed between its link and its commit) is taken
  -- by no other daemon until that intent is settled.
  CREATE INDEX files_open_intents_by_source ON files (source) WHERE status = 'intent';
  CREATE INDEX files_by_time ON files (intent_at);
  CREATE INDEX files_quarantined ON files (id) WHERE kind = 'quarantine' AND status = 'committed';
  CREATE INDEX files_by_settled ON files (settled_xid, id) WHERE settled_xid IS NOT NULL;
  CREATE TABLE runtime (
    node_id TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    file_id BIGINT,
    source BYTEA,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    detail TEXT,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
  );
  CREATE INDEX events_by_file ON events (file_id) WHERE file_id IS NOT NULL;
  CREATE INDEX events_by_source ON events (source) WHERE source IS NOT NULL;
  CREATE INDEX events_by_time ON events (at);
  CREATE INDEX events_by_xid ON events (xid, id);
  CREATE TABLE holds (
    source BYTEA PRIMARY KEY,
    device BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ms DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, at BIGINT NOT NULL);
  CREATE TABLE closed_hours (
    hour BIGINT PRIMARY KEY,
    manifest TEXT NOT NULL,
    lines BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    closed_at BIGINT NOT NULL
  );
  CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    msg_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at BIGINT,
    status TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    delivered_at BIGINT,
    file_id BIGINT
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox (endpoint, next_at) WHERE status = 'pending';
  CREATE INDEX webhook_outbox_by_file ON webhook_outbox (file_id) WHERE file_id IS NOT NULL;
  `,
];
