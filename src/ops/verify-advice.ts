// What verify reports, and what an operator does about each kind of problem it finds.

export type ProblemKind =
  | 'torn-line'
  | 'bad-line'
  | 'duplicate-content'
  | 'missing-file'
  | 'size-mismatch'
  | 'hash-mismatch'
  | 'unrecorded-file'
  | 'temporary-file'
  | 'open-intent'
  | 'state-without-line'
  | 'line-without-state'
  | 'state-disagrees'
  | 'unrecorded-duplicate'
  | 'duplicate-missing'
  | 'duplicate-mismatch'
  | 'success-mismatch'
  | 'success-missing'
  | 'success-unexpected'
  | 'success-bad';

/**
 * A partition file with other bytes than its line. Files are copied, never linked, from a
 * volume where the kernel cannot tell the daemon about writers, so a late writer changes its
 * own (removed) input file, never the warehouse's. A warehouse file that changed was placed by
 * an older ingestor (a move within one filesystem kept the inode), or was written to in the
 * warehouse. A backup, if there is one, holds the bytes the line describes; the later bytes may
 * exist nowhere else.
 */
const CHANGED_AFTER_INGEST =
  'usually a writer still had it open after it was ingested (an ingestor older than this one, on a volume where it could not see writers), or the file was edited in the warehouse: the manifest line describes the bytes at ingestion, the file holds later ones. If those are the content wanted, re-ingest the current file from the input side (copy it into --input under a new name); else restore it from a backup';

/**
 * What to do about each kind of problem, one line each: printed under the report for the
 * kinds found, and given as `advice` in `--json`.
 */
export const PROBLEM_ADVICE: Readonly<Record<ProblemKind, string>> = Object.freeze({
  'torn-line':
    'run the daemon once (recovery cuts a torn last line); if it runs now, a line may be half written: verify again with it stopped',
  'bad-line':
    'the ingestor writes only whole JSON lines: the manifest was edited or damaged; restore it from a backup (the state row of each file has its fields: ingestor list --sha256 HASH)',
  'duplicate-content':
    'one content has two lines: keep the line whose warehouse_path the state records (ingestor list --sha256 HASH) and remove the other; make sure no two daemons with different --state-path share these manifests',
  'missing-file':
    'a file of the manifest is gone from its partition: restore it from a backup (the line gives its sha256 and size); the warehouse must not be cleaned by other tools',
  'size-mismatch': CHANGED_AFTER_INGEST,
  'hash-mismatch': CHANGED_AFTER_INGEST,
  'unrecorded-file':
    'with an open-intent: likely the only copy of a file moved before a crash or a full volume; start the daemon (recovery records it), never remove it. Else, with a state-without-line for it: restore the manifest; else move it into the input to ingest it',
  'temporary-file':
    "in .ingestor-tmp: a copy a stop or kill left behind; start the daemon (recovery removes it) or stop it before verifying; ._SUCCESS.tmp in an hour's directory: a close a stop or kill cut short; start the daemon (it finishes closing the hour); in a partition: not the ingestor's (it never places hidden or .tmp files): find its writer, then remove it",
  'open-intent': 'start the daemon (recovery settles it) or stop it before verifying',
  'state-without-line':
    "a committed file has no manifest line: check that --manifests is the daemon's; otherwise the manifest lost the line (restored from an older copy?): restore it from a backup",
  'line-without-state':
    "with an open-intent: start the daemon (recovery commits it); otherwise check that --state-path is the daemon's, or the state was restored from an older copy",
  'state-disagrees':
    'state and manifest name another path or size for one content: one of them was edited; the warehouse file (its size, and hash with --rehash) tells which is right',
  'unrecorded-duplicate':
    "a file in the duplicates directory has no committed duplicate row: with an open-intent, start the daemon (recovery settles it); otherwise check that --duplicates-dir is the daemon's, or it was put there by hand: move it into the input to have it ingested (or recorded as a duplicate)",
  'duplicate-missing':
    'a recorded duplicate is gone from the duplicates directory: removed by hand or by a cleanup (nothing is lost: its content is in the warehouse under its original, ingestor list --sha256 HASH); check --duplicates-dir if it was not removed',
  'duplicate-mismatch':
    'the file in the duplicates directory is not the content recorded (taken while its writer was still writing?): its bytes may exist nowhere else; move it into the input so that it is ingested as what it is',
  'success-mismatch':
    "a closed hour's manifest is not what its _SUCCESS says (or the _SUCCESS not what the state recorded at the close): the ingestor never writes to a closed hour, so something else did (an edit, a restore from an older backup, another daemon sharing --manifests), and jobs that read the hour before saw other lines. Appended lines: remove them (each names its warehouse file; ingestor list --sha256 HASH shows whether this state ingested it); a changed manifest or _SUCCESS: restore it from a backup; then verify again",
  'success-missing':
    "a closed hour's _SUCCESS is gone (removed by a cleanup job?): jobs waiting for it wait forever. If no success-mismatch is reported for its manifest, recreate it with the line the detail gives (what it said, from the state's record), or restore it from a backup",
  'success-unexpected':
    "a _SUCCESS in an hour the state has not closed: if the daemon was stopped or killed while closing that hour, start it (it records the close); otherwise it is not this daemon's (another tool, or another daemon sharing --manifests): remove it, since jobs waiting for it would read an hour that is still open",
  'success-bad':
    'a _SUCCESS that is not one the ingestor writes (not JSON, a field missing, another hour): it was edited or written by another tool; remove it: the daemon writes the hours it has not closed yet when it closes them; for one it closed already, verify again after the removal and recreate it as success-missing says',
} satisfies Record<ProblemKind, string>);
