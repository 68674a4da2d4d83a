import type { RowKind } from '../interfaces.js';
import { NO_DEST, freeName } from '../naming.js';
import { baseName } from '../paths.js';
import type { ClaimInput, Placement, PlacementPlan } from './store.js';

/**
 * Places the files of one claim by `plan`: an ingest in the partition with a manifest line, a
 * duplicate in the duplicates directory or nowhere. No two files of the claim get the same name,
 * and no name already on disk is given (`freeName`): recovery trusts a destination it finds.
 */
export function placer(
  plan: PlacementPlan,
  /** Names (path keys) not to give though free on disk: other daemons' rows hold them. */
  held: ReadonlySet<string> = new Set(),
): (input: ClaimInput, kind: RowKind) => Placement {
  const reserved = new Set<string>(held);
  return (input, kind) => {
    if (kind === 'duplicate' && plan.duplicates === null) {
      return { dest: NO_DEST, tmp: input.tmp ?? null, manifest: null };
    }
    const dir = kind === 'ingest' ? plan.partition : plan.duplicates!;
    const dest = freeName(dir, baseName(input.source), input.sha256, reserved);
    return { dest, tmp: input.tmp ?? null, manifest: kind === 'ingest' ? plan.manifest : null };
  };
}
