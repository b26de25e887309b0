/**
 * SPEC E5: the hash chain over an installation's recordings, as a pure
 * analysis of the links found in their info files. Each recording names the
 * previous one and that one's signature; the first names "none".
 *
 *   first --- r2 --- r3 --- r4 --- head        links point backwards:
 *     ^prev=none  ^prev=first,sig(first)  ...  each info file names its predecessor
 *
 * Findings:
 *   gap          a recording names a predecessor that is not there (and was not
 *                deleted by retention, SPEC A4)
 *   deleted      a predecessor deleted by retention: expected, not a failure
 *   broken link  the Previous-Signature does not equal the predecessor's signature
 *   fork         two recordings name the same predecessor (or two claim to be first)
 *   unreachable  recordings no walk from a start reaches (links that form a loop)
 */

export interface ChainNode {
  baseName: string;
  /** Predecessor named in the info file: a base name, null for "none", undefined when the info file was unreadable. */
  previous: string | null | undefined;
  /** Previous-Signature from the info file (base64), null for "none". */
  previousSignature: string | null | undefined;
  /** This recording's own signature (content of its .sig file), undefined when missing or unreadable. */
  signature: string | undefined;
}

export interface ChainGap {
  /** Base name of the recording that is missing. */
  missing: string;
  /** The recording whose info file names it. */
  referencedBy: string;
}

export interface ChainDeleted {
  baseName: string;
  referencedBy: string;
}

export interface BrokenLink {
  recording: string;
  previous: string;
  reason: string;
}

export interface ChainFork {
  /** The predecessor named more than once ('none' when several claim to be first). */
  previous: string;
  recordings: string[];
}

export interface ChainAnalysis {
  /** The chain in order, in pieces separated by gaps, deletions or unknown links; pieces in base-name (time) order. */
  segments: string[][];
  /** All segments joined. */
  order: string[];
  /** Latest recording without successor, or null when there is none. */
  head: string | null;
  gaps: ChainGap[];
  deleted: ChainDeleted[];
  brokenLinks: BrokenLink[];
  forks: ChainFork[];
  unreachable: string[];
}

export interface ChainOptions {
  /** Base names deleted by retention: reported as deleted, not missing. */
  deletedByRetention?: Iterable<string>;
  /** The chain head the recording log knows; reported as a gap when it is not there. */
  expectedHead?: string;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function analyzeChain(nodes: readonly ChainNode[], options: ChainOptions = {}): ChainAnalysis {
  const deletedSet = new Set(options.deletedByRetention ?? []);
  const present = new Map(nodes.map((n) => [n.baseName, n]));
  const successors = new Map<string, string[]>();
  const starts: string[] = [];
  const gaps: ChainGap[] = [];
  const deleted: ChainDeleted[] = [];
  const brokenLinks: BrokenLink[] = [];

  for (const node of [...nodes].sort((a, b) => byName(a.baseName, b.baseName))) {
    const prev = node.previous;
    if (prev === undefined) {
      starts.push(node.baseName); // link unknown (info unreadable): failure reported by the recording's own check
      continue;
    }
    const key = prev ?? 'none';
    successors.set(key, [...(successors.get(key) ?? []), node.baseName]);
    if (prev === null) {
      starts.push(node.baseName);
      continue;
    }
    const before = present.get(prev);
    if (before === undefined) {
      if (deletedSet.has(prev)) deleted.push({ baseName: prev, referencedBy: node.baseName });
      else gaps.push({ missing: prev, referencedBy: node.baseName });
      starts.push(node.baseName);
      continue;
    }
    if (before.signature === undefined) {
      brokenLinks.push({ recording: node.baseName, previous: prev, reason: `the signature file of ${prev} is missing or unreadable, so the link cannot be checked` });
    } else if (node.previousSignature !== before.signature) {
      brokenLinks.push({ recording: node.baseName, previous: prev, reason: `its Previous-Signature is not the signature of ${prev}` });
    }
  }

  const forks: ChainFork[] = [];
  for (const [previous, list] of successors) {
    // Successors of a missing or deleted predecessor are forks too: the chain can only continue once.
    if (list.length > 1) forks.push({ previous, recordings: list });
  }

  const visited = new Set<string>();
  const segments: string[][] = [];
  for (const start of starts) {
    if (visited.has(start)) continue;
    const segment: string[] = [];
    // Walk forward; at a fork take the earliest successor first and start segments for the others.
    const stack = [start];
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (visited.has(name)) continue;
      visited.add(name);
      segment.push(name);
      const next = (successors.get(name) ?? []).filter((s) => !visited.has(s));
      if (next.length > 0) {
        stack.push(next[0]!);
        for (const other of next.slice(1)) starts.push(other);
      }
    }
    segments.push(segment);
  }
  segments.sort((a, b) => byName(a[0]!, b[0]!));
  const unreachable = nodes.map((n) => n.baseName).filter((n) => !visited.has(n)).sort(byName);

  if (options.expectedHead !== undefined && !present.has(options.expectedHead) && !deletedSet.has(options.expectedHead)) {
    gaps.push({ missing: options.expectedHead, referencedBy: 'the recording log (chain head)' });
  }
  const order = segments.flat();
  const heads = order.filter((n) => (successors.get(n) ?? []).length === 0).sort(byName);
  return {
    segments,
    order,
    head: heads.at(-1) ?? null,
    gaps,
    deleted,
    brokenLinks,
    forks,
    unreachable,
  };
}

/** One line per finding, naming the recordings involved. */
export function describeChainFindings(a: ChainAnalysis): string[] {
  return [
    ...a.gaps.map((g) => `gap: ${g.missing} is missing (named as previous recording by ${g.referencedBy})`),
    ...a.brokenLinks.map((b) => `broken link: ${b.recording} -> ${b.previous}: ${b.reason}`),
    ...a.forks.map((f) => `fork: ${f.recordings.join(', ')} all name ${f.previous === 'none' ? 'no previous recording (several firsts)' : f.previous} as previous`),
    ...a.unreachable.map((u) => `unreachable: ${u} is not reached by the chain (its links form a loop)`),
  ];
}
