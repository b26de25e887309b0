/**
 * Free local ports for interop tests (callrec, SIPp, media ranges).
 *
 * Ports are picked at random below the kernel's ephemeral range, so that
 * outgoing connections (which get ephemeral source ports) never land on a
 * port handed out here but not yet bound by the child that will use it. A
 * candidate is accepted only when it can be bound on 127.0.0.1 for every
 * protocol asked for; it is then released and remembered, so concurrent
 * allocations in one test process never return the same number twice.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

export type PortProtocol = 'udp' | 'tcp' | 'both';

const HOST = '127.0.0.1';
const LOWEST = 10000;
/** Ports handed out by this process; never handed out again. */
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

function randomBase(count: number, align: number): number {
  const span = HIGHEST - LOWEST - count;
  const base = LOWEST + Math.floor(Math.random() * span);
  return base - (base % align);
}

/**
 * `count` consecutive ports, each free for `protocol` on 127.0.0.1. The
 * first port is even when `align` is 2 (RTP on even, RTCP on odd ports).
 */
export async function freePortRange(
  count: number,
  protocol: PortProtocol = 'udp',
  align = 2,
): Promise<number> {
  if (!Number.isInteger(count) || count < 1 || count > HIGHEST - LOWEST) {
    throw new RangeError(`bad port count ${count} (at most ${HIGHEST - LOWEST})`);
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = randomBase(count, align);
    let clash = false;
    for (let p = base; p < base + count; p++) {
      if (handedOut.has(p)) {
        clash = true;
        break;
      }
    }
    if (clash) continue;
    // One port at a time, released at once: large media ranges would
    // otherwise hold thousands of descriptors.
    let ok = true;
    for (let p = base; p < base + count && ok; p++) {
      const held: Held[] = [];
      ok = await bindAll(p, protocol, held);
      await Promise.all(held.map((h) => h.close()));
    }
    if (!ok) continue;
    for (let p = base; p < base + count; p++) handedOut.add(p);
    return base;
  }
  throw new Error(`no ${count} consecutive free ${protocol} ports found on ${HOST}`);
}

/** One port free on 127.0.0.1 for `protocol` ('both': UDP and TCP on the same number). */
export function freePort(protocol: PortProtocol = 'both'): Promise<number> {
  return freePortRange(1, protocol, 1);
}

/**
 * Sockets bound to `port` according to /proc/net (Linux): UDP sockets, or
 * TCP sockets in LISTEN state. null when /proc/net is not readable.
 */
function procNetBound(port: number, protocol: 'udp' | 'tcp'): boolean | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let any = false;
  for (const file of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    any = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      if (!local || !local.endsWith(`:${hexPort}`)) continue;
      if (protocol === 'udp' || state === '0A') return true;
    }
  }
  return any ? false : null;
}

/**
 * True once something has bound `port` for `protocol`. Reads /proc/net, so
 * it never holds the port itself (a probe bind could make the child's own
 * bind fail); elsewhere it falls back to a probe bind on 127.0.0.1.
 */
export async function isPortBound(port: number, protocol: 'udp' | 'tcp'): Promise<boolean> {
  const fromProc = procNetBound(port, protocol);
  if (fromProc !== null) return fromProc;
  const held = protocol === 'udp' ? await bindUdp(port) : await bindTcp(port);
  if (!held) return true;
  await held.close();
  return false;
}

/** Polls until `port` is bound (by a child process) or the timeout passes. */
export async function waitForPortBound(
  port: number,
  protocol: 'udp' | 'tcp',
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isPortBound(port, protocol)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
