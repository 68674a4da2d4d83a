import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors.js';

/** A directory whose volume's free space the status, the dashboard and the metrics show. */
export interface Volume {
  readonly name: string;
  readonly path: string;
}

export type VolumeUse =
  | { name: string; path: string; freeBytes: number; totalBytes: number }
  | { name: string; path: string; error: string };

/** The daemon's directories, by the name operators know them by. */
export function daemonVolumes(o: {
  input: string;
  warehouse: string;
  manifests: string;
  statePath: string;
  stateUrl?: string | undefined;
}): Volume[] {
  return [
    { name: 'input', path: o.input },
    { name: 'warehouse', path: o.warehouse },
    { name: 'manifests', path: o.manifests },
    // A PostgreSQL state's volume is the database server's, not on this host.
    ...(o.stateUrl === undefined ? [{ name: 'state', path: path.dirname(o.statePath) }] : []),
  ];
}

/** Free (for this user) and total bytes of a directory's volume, or why they cannot be read. */
export async function volumeUse(volume: Volume): Promise<VolumeUse> {
  try {
    const s = await fs.promises.statfs(volume.path);
    return { ...volume, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch (error) {
    return { ...volume, error: errnoCode(error) ?? String(error) };
  }
}
