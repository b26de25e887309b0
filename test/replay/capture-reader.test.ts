/**
 * Capture reading (lib/replay/capture-reader, packet-decoder).
 *
 * Verified:
 * - classic pcap in both byte orders, micro- and nanosecond magic, and the
 *   modified (Kuznetsov) record format give the same datagrams and times
 * - pcapng: section header in both byte orders, if_tsresol 10^-n and 2^-n,
 *   Enhanced and Simple Packet Blocks, unknown blocks skipped; a pcapng
 *   written by tshark/editcap decodes exactly as its pcap source
 * - link layers: Ethernet with 802.1Q and stacked 802.1ad tags, Linux cooked
 *   SLL (a real capture and a synthetic one) and SLL2, raw IP (101, 12, 14,
 *   228, 229), BSD NULL loopback in either byte order, OpenBSD LOOP
 * - IPv6 with hop-by-hop, routing, destination-options and atomic fragment
 *   headers before UDP
 * - IPv4 fragments reassembled; an incomplete set counted, not emitted
 * - TCP and non-IP frames counted and ignored; Ethernet padding trimmed
 * - truncated and garbage files throw CaptureError, never another error;
 *   allowTruncatedTail returns the complete records
 * Not verified: pcapng files with several sections of different byte
 * order (written by no common tool), IPv6 fragment reassembly with real
 * fragments (the code path is shared with IPv4).
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CaptureError, readCapture, type UdpDatagram } from '../../lib/replay/index.js';
import {
  ethernet, ipPacket, ipv4, ipv4Fragments, ipv6, nullLoopback, sll, sll2, udpHeader, writePcap, writePcapng, type Frame,
} from './capture-builder.js';
import { HAS_EDITCAP, HAS_TSHARK, PCAP_DIR, run, tempDir } from './tools.js';

const load = (name: string): Buffer => readFileSync(path.join(PCAP_DIR, name));
const summary = (d: UdpDatagram): string =>
  `${d.timeMs.toFixed(3)} ${d.src.host}:${d.src.port}>${d.dst.host}:${d.dst.port} ${d.payload.toString('hex')}`;
const T0 = 1_700_000_000_123.456;

t.test('real capture: pcap Ethernet, 236 UDP datagrams, epoch time in ms', async (t) => {
  const c = readCapture(load('rtp-only-pcma-30ms.pcap'));
  t.equal(c.format, 'pcap');
  t.same(c.linkTypes, [1]);
  t.equal(c.datagrams.length, 236);
  const d = c.datagrams[0]!;
  t.same(d.src, { host: '10.1.3.143', port: 5000 });
  t.same(d.dst, { host: '10.1.6.18', port: 2006 });
  t.equal(d.payload.length, 12 + 240, '240-byte PCMA payload after the RTP header');
  t.equal(new Date(d.timeMs).toISOString().slice(0, 10), '2002-07-26');
  t.ok(c.datagrams.every((x, i) => i === 0 || x.timeMs >= c.datagrams[i - 1]!.timeMs), 'times ascending');
});

t.test('real capture: Linux cooked SLL (the DTMF file is SLL, not Ethernet)', async (t) => {
  const c = readCapture(load('rtp-only-pcmu-rfc2833-dtmf-0-9.pcap'));
  t.same(c.linkTypes, [113]);
  t.equal(c.datagrams.length, 974);
  t.same(c.datagrams[0]!.src, { host: '10.0.0.51', port: 4000 });
  t.same(c.datagrams[0]!.dst, { host: '10.0.0.45', port: 10866 });
});

t.test('TCP and non-IP frames are counted and ignored', async (t) => {
  const c = readCapture(load('sip-cancel-auth-earlymedia-183-pcma.pcap'));
  t.equal(c.stats.frames, 691);
  t.equal(c.stats.udp, 590);
  t.equal(c.stats.tcp, 57);
  t.equal(c.stats.nonIp, 44, 'ARP');
  t.equal(c.datagrams.length, 590);
});

t.test('pcap byte orders, nanosecond and modified formats decode identically', async (t) => {
  const src = readCapture(load('rtp-only-pcma-30ms.pcap'));
  const frames: Frame[] = src.datagrams.slice(0, 20).map((d) => ({ timeMs: d.timeMs, data: ethernet(ipPacket(d.src.host, d.dst.host, d.src.port, d.dst.port, d.payload)) }));
  const expected = src.datagrams.slice(0, 20).map(summary);
  for (const le of [true, false]) {
    for (const nanos of [false, true]) {
      const c = readCapture(writePcap(frames, { linkType: 1, littleEndian: le, nanos }));
      t.same(c.datagrams.map(summary), expected, `${le ? 'little' : 'big'}-endian, ${nanos ? 'nano' : 'micro'}seconds`);
    }
  }
  const nano = readCapture(writePcap([{ timeMs: T0 + 0.000789, data: ethernet(ipPacket('1.2.3.4', '5.6.7.8', 4000, 4002, Buffer.from('x'))) }], { linkType: 1, nanos: true }));
  t.ok(Math.abs(nano.datagrams[0]!.timeMs - (T0 + 0.000789)) < 0.0005, 'sub-microsecond part kept as far as a double allows');
});

t.test('pcapng: both byte orders, if_tsresol, EPB and SPB, unknown blocks skipped', async (t) => {
  const payload = Buffer.from('hello');
  const frames: Frame[] = [0, 20, 40].map((dt) => ({ timeMs: T0 + dt, data: ethernet(ipPacket('192.0.2.1', '192.0.2.2', 5004, 6000, payload)) }));
  for (const littleEndian of [true, false]) {
    for (const tsresol of [undefined, 3, 9, 0x80 | 20]) {
      const c = readCapture(writePcapng(frames, { linkType: 1, littleEndian, tsresol, extraBlocks: true }));
      t.equal(c.format, 'pcapng');
      t.equal(c.datagrams.length, 3, `${littleEndian ? 'LE' : 'BE'} tsresol=${tsresol}`);
      t.equal(c.stats.skippedBlocks, 2);
      const precision = tsresol === 3 ? 1 : 0.002;
      c.datagrams.forEach((d, i) => t.ok(Math.abs(d.timeMs - frames[i]!.timeMs) < precision, `time ${i} within ${precision} ms`));
      t.same(c.datagrams[2]!.dst, { host: '192.0.2.2', port: 6000 });
    }
  }
  const spb = readCapture(writePcapng(frames, { linkType: 1, simple: true }));
  t.equal(spb.datagrams.length, 3, 'Simple Packet Blocks read (they carry no time)');
  t.equal(spb.datagrams[0]!.payload.toString(), 'hello');
});

const NO_WIRESHARK_TOOLS = !HAS_TSHARK && !HAS_EDITCAP ? 'neither tshark nor editcap is installed (apt-get install tshark)' : false;

t.test('pcapng written by tshark (or editcap) equals the pcap it came from', { skip: NO_WIRESHARK_TOOLS }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.done);
  for (const name of ['sip-multileg-reinvite-t38-488-pcma-bye.pcap', 'rtp-only-pcmu-rfc2833-dtmf-0-9.pcap']) {
    const input = path.join(PCAP_DIR, name);
    const out = path.join(tmp.dir, `${name}.pcapng`);
    if (HAS_TSHARK) run('tshark', ['-r', input, '-F', 'pcapng', '-w', out]);
    else run('editcap', ['-F', 'pcapng', input, out]);
    const ng = readCapture(readFileSync(out));
    const classic = readCapture(load(name));
    t.equal(ng.format, 'pcapng', name);
    t.same(ng.linkTypes, classic.linkTypes);
    t.same(ng.datagrams.map(summary), classic.datagrams.map(summary), `${name}: same datagrams, same times`);
  }
  if (HAS_EDITCAP) {
    const nsec = path.join(tmp.dir, 'nsec.pcap');
    const mod = path.join(tmp.dir, 'mod.pcap');
    run('editcap', ['-F', 'nsecpcap', path.join(PCAP_DIR, 'rtp-only-pcmu-seq-gaps.pcap'), nsec]);
    run('editcap', ['-F', 'modpcap', path.join(PCAP_DIR, 'rtp-only-pcmu-seq-gaps.pcap'), mod]);
    const classic = readCapture(load('rtp-only-pcmu-seq-gaps.pcap')).datagrams.map(summary);
    t.same(readCapture(readFileSync(nsec)).datagrams.map(summary), classic, 'editcap nanosecond pcap');
    t.same(readCapture(readFileSync(mod)).datagrams.map(summary), classic, 'editcap modified pcap');
  }
});

t.test('Linux cooked SLL and SLL2 built from the Ethernet frames of a real capture', async (t) => {
  const src = readCapture(load('rtp-only-pcmu-seq-gaps.pcap'));
  const expected = src.datagrams.map(summary);
  const ips = src.datagrams.map((d) => ({ timeMs: d.timeMs, ip: ipPacket(d.src.host, d.dst.host, d.src.port, d.dst.port, d.payload) }));
  const viaSll = readCapture(writePcap(ips.map((x) => ({ timeMs: x.timeMs, data: sll(x.ip) })), { linkType: 113 }));
  t.same(viaSll.datagrams.map(summary), expected, 'SLL');
  const viaSll2 = readCapture(writePcapng(ips.map((x) => ({ timeMs: x.timeMs, data: sll2(x.ip) })), { linkType: 276 }));
  t.same(viaSll2.datagrams.map(summary), expected, 'SLL2 in pcapng');
  if (HAS_TSHARK) {
    // Wireshark must agree that the synthetic SLL file is well formed.
    const tmp = tempDir();
    t.teardown(tmp.done);
    const file = path.join(tmp.dir, 'sll.pcap');
    writeFileSync(file, writePcap(ips.slice(0, 5).map((x) => ({ timeMs: x.timeMs, data: sll(x.ip) })), { linkType: 113 }));
    const fields = run('tshark', ['-r', file, '-T', 'fields', '-e', 'sll.etype', '-e', 'udp.dstport']).trim().split('\n');
    t.same(fields, Array(5).fill('0x0800\t13030'), 'tshark decodes the synthetic SLL frames');
  }
});

t.test('raw IP, NULL and LOOP link types; VLAN tags; Ethernet padding', async (t) => {
  const ip = ipPacket('198.51.100.7', '203.0.113.9', 30000, 40000, Buffer.from('payload'));
  const want = ['198.51.100.7:30000>203.0.113.9:40000 7061796c6f6164'];
  const one = (linkType: number, data: Buffer): string[] =>
    readCapture(writePcap([{ timeMs: 0, data }], { linkType })).datagrams.map((d) => summary(d).slice(6));
  for (const lt of [101, 12, 14, 228]) t.same(one(lt, ip), want, `raw IP, link type ${lt}`);
  t.same(one(0, nullLoopback(ip, 2, true)), want, 'NULL, AF_INET little-endian');
  t.same(one(0, nullLoopback(ip, 2, false)), want, 'NULL, AF_INET big-endian');
  t.same(one(108, nullLoopback(ip, 2, false)), want, 'LOOP, network byte order');
  t.same(one(1, ethernet(ip, [100])), want, '802.1Q');
  t.same(one(1, ethernet(ip, [10, 20])), want, '802.1ad + 802.1Q');
  const padded = Buffer.concat([ethernet(ip), Buffer.alloc(12)]);
  t.same(one(1, padded), want, 'trailing Ethernet padding is not payload');
  const c = readCapture(writePcap([{ timeMs: 0, data: ip }], { linkType: 147 }));
  t.equal(c.stats.unsupportedLinkType, 1, 'unknown link type counted');
});

t.test('IPv6: addresses compressed per RFC 5952, extension headers skipped', async (t) => {
  const payload = Buffer.from('v6 payload');
  const udp = udpHeader(5060, 5062, payload);
  const frames: Frame[] = [
    { timeMs: T0, data: ethernet(ipv6('2001:db8::1', '2001:db8:0:0:1::2', udp)) },
    { timeMs: T0 + 1, data: ethernet(ipv6('2001:db8::1', 'fe80::abcd', udp, [0, 60])) },
    { timeMs: T0 + 2, data: sll(ipv6('::1', '::1', udp, [43, 44])) },
    { timeMs: T0 + 3, data: nullLoopback(ipv6('2001:db8::1', '2001:db8::2', udp), 30, true) },
  ];
  const c = readCapture(writePcap(frames.slice(0, 2), { linkType: 1 }));
  t.same(c.datagrams.map((d) => [d.src.host, d.dst.host, d.dst.port, d.payload.toString()]), [
    ['2001:db8::1', '2001:db8::1:0:0:2', 5062, 'v6 payload'],
    ['2001:db8::1', 'fe80::abcd', 5062, 'v6 payload'],
  ]);
  t.equal(readCapture(writePcap([frames[2]!], { linkType: 113 })).datagrams[0]?.payload.toString(), 'v6 payload', 'routing + atomic fragment header');
  t.equal(readCapture(writePcap([frames[3]!], { linkType: 0 })).datagrams[0]?.src.host, '2001:db8::1', 'NULL with AF_INET6 = 30 (macOS)');
  const tcp = readCapture(writePcap([{ timeMs: 0, data: ethernet(ipv6('::1', '::2', Buffer.alloc(20), [0], 6)) }], { linkType: 1 }));
  t.equal(tcp.stats.tcp, 1, 'TCP over IPv6 counted');
});

t.test('IPv4 fragments are reassembled; an incomplete set is dropped and counted', async (t) => {
  const payload = Buffer.alloc(3000, 0x61);
  payload.write('INVITE sip:big@example.com SIP/2.0\r\n');
  const udp = udpHeader(5060, 5060, payload);
  const frags = ipv4Fragments('10.0.0.1', '10.0.0.2', udp, 1480, 77);
  t.equal(frags.length, 3);
  // Out of order, as captures sometimes show them.
  const order = [frags[2]!, frags[0]!, frags[1]!];
  const c = readCapture(writePcap(order.map((f, i) => ({ timeMs: T0 + i, data: ethernet(f) })), { linkType: 1 }));
  t.equal(c.datagrams.length, 1);
  t.ok(c.datagrams[0]!.payload.equals(payload), 'payload rebuilt byte for byte');
  t.equal(c.stats.reassembled, 1);
  t.equal(c.stats.fragments, 3);
  const missing = readCapture(writePcap([frags[0]!, frags[2]!].map((f) => ({ timeMs: T0, data: ethernet(f) })), { linkType: 1 }));
  t.equal(missing.datagrams.length, 0);
  t.equal(missing.stats.fragmentsDropped, 2);
  const tcp = readCapture(writePcap([{ timeMs: 0, data: ethernet(ipv4('1.1.1.1', '2.2.2.2', Buffer.alloc(20), { protocol: 6 })) }], { linkType: 1 }));
  t.equal(tcp.stats.tcp, 1);
});

t.test('truncated and garbage files throw CaptureError', async (t) => {
  const good = load('rtp-only-pcma-30ms.pcap');
  const cases: Array<[string, Buffer]> = [
    ['empty file', Buffer.alloc(0)],
    ['three bytes', Buffer.from('abc')],
    ['text file', Buffer.from('This is not a capture at all, just text.\n')],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))],
    ['pcap header cut', good.subarray(0, 20)],
    ['pcap cut inside a record header', good.subarray(0, 24 + 8)],
    ['pcap cut inside a packet', good.subarray(0, good.length - 100)],
    ['pcap with absurd record length', Buffer.concat([good.subarray(0, 24), Buffer.from('0000000000000000ffffff7fffffff7f', 'hex')])],
    ['pcap version 9', Buffer.concat([good.subarray(0, 4), Buffer.from([9, 0]), good.subarray(6, 100)])],
  ];
  const ng = writePcapng([{ timeMs: T0, data: ethernet(ipPacket('1.1.1.1', '2.2.2.2', 4000, 4000, Buffer.from('x'))) }], { linkType: 1 });
  cases.push(['pcapng cut in a block', ng.subarray(0, ng.length - 10)]);
  const badBom = Buffer.from(ng);
  badBom.writeUInt32LE(0xdeadbeef, 8);
  cases.push(['pcapng bad byte-order magic', badBom]);
  const badTrailer = Buffer.from(ng);
  badTrailer.writeUInt32LE(0x10, ng.length - 4);
  cases.push(['pcapng trailing length mismatch', badTrailer]);
  const noIdb = Buffer.concat([ng.subarray(0, 28), ng.subarray(28 + 20)]);
  cases.push(['pcapng packet before any interface', noIdb]);
  for (const [name, buf] of cases) {
    t.throws(() => readCapture(buf), CaptureError, name);
    try {
      readCapture(buf);
    } catch (err) {
      t.equal((err as Error).name, 'CaptureError', `${name}: ${(err as Error).message}`);
    }
  }
  const partial = readCapture(good.subarray(0, good.length - 100), { allowTruncatedTail: true });
  t.equal(partial.datagrams.length, 235, 'allowTruncatedTail keeps the complete records');
});

t.test('fuzz: random corruption of a real capture never escapes as another error', async (t) => {
  const good = load('sip-cancel-auth-earlymedia-183-pcma.pcap').subarray(0, 20000);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let ok = 0;
  let errors = 0;
  for (let i = 0; i < 300; i++) {
    // Half the cases cut the file somewhere, half keep its length; all flip a few bytes.
    const b = Buffer.from(i % 2 === 0 ? good.subarray(0, 24 + rand(good.length - 24)) : good);
    for (let k = 0; k < 1 + rand(8); k++) b[24 + rand(b.length - 24)] = rand(256);
    try {
      readCapture(b, { allowTruncatedTail: i % 4 === 0 });
      ok++;
    } catch (err) {
      if (!(err instanceof CaptureError)) t.fail(`case ${i}: ${(err as Error).stack}`);
      errors++;
    }
  }
  t.equal(ok + errors, 300, `${ok} read, ${errors} CaptureError`);
});
