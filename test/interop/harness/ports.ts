/**
 * Free local ports for interop tests (callrec, SIPp, media ranges).
 *
 * Ports come from below the kernel's ephemeral range, so that outgoing
 * connections (which get ephemeral source ports) never land on a port handed
 * out here but not yet bound by the child that will use it: single ports and
 * small blocks from 10000-19999, large ranges (callrec's media ports) from
 * 20000 up to the ephemeral range. A candidate is accepted only when it can
 * be bound on 127.0.0.1 for every protocol asked for; it is then released
 * and remembered until releasePorts(), so concurrent allocations in one test
 * process never return the same number twice.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

export type PortProtocol = 'udp' | 'tcp' | 'both';

const HOST = '127.0.0.1';
const LOWEST = 10000;
/** Ports handed out by this process and not released. */
const handedOut = new Set<number>();

/** Lowest port of the kernel's ephemeral range (32768 on Linux by default). */
function ephemeralStart(): number {
  try {
    const text = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const first = Number.parseInt(text.trim().split(/\s+/)[0] ?? '', 10);
    if (Number.isInteger(first) && first > LOWEST + 2000) return first;
  } catch {
    // not Linux: fall through
  }
  return 32768;
}

const HIGHEST = ephemeralStart() - 1;

interface Held {
  close(): Promise<void>;
}

function bindUdp(port: number): Promise<Held | null> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(null);
    });
    socket.bind({ port, address: HOST, exclusive: true }, () => {
      resolve({ close: () => new Promise<void>((done) => socket.close(() => done())) });
    });
  });
}

function bindTcp(port: number): Promise<Held | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen({ port, host: HOST, exclusive: true }, () => {
      resolve({ close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

async function bindAll(port: number, protocol: PortProtocol, held: Held[]): Promise<boolean> {
  if (protocol !== 'tcp') {
    const udp = await bindUdp(port);
    if (!udp) return false;
    held.push(udp);
  }
  if (protocol !== 'udp') {
    const tcp = await bindTcp(port);
    if (!tcp) return false;
    held.push(tcp);
  }
  return true;
}

/** Single ports and small blocks come from the low region, big ranges (media) from the high one. */
const SMALL_MAX = 16;
const SPLIT = 20000;

function region(count: number): { low: number; high: number } {
  return count <= SMALL_MAX ? { low: LOWEST, high: SPLIT - 1 } : { low: SPLIT, high: HIGHEST };
}

const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;

/**
 * `count` consecutive ports, each free for `protocol` on 127.0.0.1. The
 * first port is even when `align` is 2 (RTP on even, RTCP on odd ports).
 * The scan starts at a random place of its region and moves past ports
 * that are taken (handed out here or bound by anyone).
 */
export async function freePortRange(
  count: number,
  protocol: PortProtocol = 'udp',
  align = 2,
): Promise<number> {
  const preferred = region(count);
  const found = await scanRange(count, protocol, align, preferred.low, preferred.high);
  if (found >= 0) return found;
  // The preferred region is crowded (e.g. another callrec on its default
  // media ports): try everything below the ephemeral range.
  const anywhere = await scanRange(count, protocol, align, LOWEST, HIGHEST);
  if (anywhere >= 0) return anywhere;
  throw new Error(`no ${count} consecutive free ${protocol} ports found on ${HOST}`);
}

/** First base found by scanning [low, high] from a random start, or -1. */
async function scanRange(
  count: number,
  protocol: PortProtocol,
  align: number,
  low: number,
  high: number,
): Promise<number> {
  const lowest = alignUp(low, align);
  const lastBase = high - count + 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`bad port count ${count}`);
  if (lastBase < lowest) return -1;
  let base = alignUp(lowest + Math.floor(Math.random() * (lastBase - lowest + 1)), align);
  let scanned = 0;
  const budget = high - low + 1;
  while (scanned <= budget) {
    if (base > lastBase) base = lowest;
    // First port of the candidate that is already handed out, if any.
    let taken = -1;
    for (let p = base; p < base + count; p++) {
      if (handedOut.has(p)) {
        taken = p;
        break;
      }
    }
    if (taken < 0) {
      // Reserve before the first await, so concurrent callers skip these ports.
      for (let p = base; p < base + count; p++) handedOut.add(p);
      // One port at a time, released at once: large media ranges would
      // otherwise hold thousands of descriptors.
      for (let p = base; p < base + count; p++) {
        const held: Held[] = [];
        const ok = await bindAll(p, protocol, held);
        await Promise.all(held.map((h) => h.close()));
        if (!ok) {
          taken = p;
          break;
        }
      }
      if (taken < 0) return base;
      for (let p = base; p < base + count; p++) handedOut.delete(p);
    }
    const next = alignUp(taken + 1, align);
    scanned += next - base;
    base = next;
  }
  return -1;
}

/** Gives ports back for later allocations (after the child using them has exited). */
export function releasePorts(base: number, count = 1): void {
  for (let p = base; p < base + count; p++) handedOut.delete(p);
}

/** One port free on 127.0.0.1 for `protocol` ('both': UDP and TCP on the same number). */
export function freePort(protocol: PortProtocol = 'both'): Promise<number> {
  return freePortRange(1, protocol, 1);
}

/**
 * Inodes of the sockets bound to `port` according to /proc/net (Linux): UDP
 * sockets, or TCP sockets in LISTEN state. null when /proc/net is not readable.
 */
function procNetInodes(port: number, protocol: 'udp' | 'tcp'): Set<string> | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let readable = false;
  const inodes = new Set<string>();
  for (const file of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    readable = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      const inode = cols[9];
      if (!local || !inode || !local.endsWith(`:${hexPort}`)) continue;
      if (protocol === 'udp' || state === '0A') inodes.add(inode);
    }
  }
  return readable ? inodes : null;
}

/** True when process `pid` holds one of the socket `inodes`; null when /proc/<pid>/fd is unreadable. */
function processHoldsSocket(pid: number, inodes: Set<string>): boolean | null {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1] ?? '')) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

/**
 * True once `port` is bound for `protocol` (by process `pid` when given).
 * Reads /proc, so it never holds the port itself (a probe bind could make
 * the child's own bind fail); elsewhere it falls back to a probe bind on
 * 127.0.0.1, which cannot tell who holds the port.
 */
export async function isPortBound(port: number, protocol: 'udp' | 'tcp', pid?: number): Promise<boolean> {
  const inodes = procNetInodes(port, protocol);
  if (inodes !== null) {
    if (inodes.size === 0) return false;
    if (pid === undefined) return true;
    const held = processHoldsSocket(pid, inodes);
    if (held !== null) return held;
    return true;
  }
  const probe = protocol === 'udp' ? await bindUdp(port) : await bindTcp(port);
  if (!probe) return true;
  await probe.close();
  return false;
}

/** Polls until `port` is bound (by process `pid` when given) or the timeout passes. */
export async function waitForPortBound(
  port: number,
  protocol: 'udp' | 'tcp',
  timeoutMs = 5000,
  pid?: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isPortBound(port, protocol, pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
