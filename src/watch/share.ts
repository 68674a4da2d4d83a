/**
 * How several daemons on one input share it (issue 14): every daemon scans the whole input, and
 * each takes the files whose path (relative to the input, the same on every host however the
 * share is mounted) scores highest for it among the daemons whose lease is live (rendezvous
 * hashing). No query per file, and when a daemon joins or leaves only its share moves. While
 * the list of daemons changes (a lease runs out, a daemon starts), two daemons may take the
 * same file for a moment: the claim in the state decides, one content once. docs/DESIGN.md,
 * "Several daemons on one input", has the measurements behind the choice.
 */
export class Share {
  readonly #self: string;
  readonly #members: () => readonly string[];

  /** `members`: the live daemons' ids now (this one's included or not). */
  constructor(self: string, members: () => readonly string[]) {
    this.#self = self;
    this.#members = members;
  }

  /** Whether this daemon takes `relPath`. */
  owns(relPath: string): boolean {
    const members = this.#members();
    if (members.length === 0 || (members.length === 1 && members[0] === this.#self)) return true;
    const mine = score(this.#self, relPath);
    for (const other of members) {
      if (other === this.#self) continue;
      const theirs = score(other, relPath);
      if (theirs > mine || (theirs === mine && other < this.#self)) return false;
    }
    return true;
  }
}

/** FNV-1a (32 bits) of the node id, a NUL, and the path, mixed once more (murmur3's finalizer). */
export function score(node: string, relPath: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < node.length; i += 1) h = Math.imul(h ^ node.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0, 0x01000193);
  for (let i = 0; i < relPath.length; i += 1) {
    h = Math.imul(h ^ relPath.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
