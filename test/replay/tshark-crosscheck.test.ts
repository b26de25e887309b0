/**
 * Cross-check against Wireshark: for each public capture, the RTP streams
 * tshark reports (`-o rtp.heuristic_rtp:TRUE -z rtp,streams`) are exactly the
 * flows the extractor finds (in calls or unassociated), with the same SSRC,
 * packet count and loss; the number of SIP messages agrees too.
 *
 * The T.38 dissector is disabled for the multi-hop capture: after the T.38
 * re-INVITE Wireshark decodes 27 PCMA RTP packets of the callee as UDPTL and
 * leaves them out of the RTP statistics (see call-extractor.test.ts).
 * Skipped, with a message, where tshark is not installed.
 */
import t from 'tap';
import path from 'node:path';
import { extractCallsFromFile, type RtpStream } from '../../lib/replay/index.js';
import { HAS_TSHARK, PCAP_DIR, run } from './tools.js';

const CAPTURES = [
  'sip-call-pcma-bidir-no-bye.pcap',
  'sip-cancel-auth-earlymedia-183-pcma.pcap',
  'sip-multileg-reinvite-t38-488-pcma-bye.pcap',
  'rtp-only-pcmu-rfc2833-dtmf-0-9.pcap',
  'rtp-only-pcmu-seq-gaps.pcap',
  'rtp-only-pcma-30ms.pcap',
];

interface TsharkStream {
  flow: string;
  ssrc: number;
  packets: number;
  lost: number;
}

// "  8.529324  34.908735  200.57.7.196 40376  200.57.7.204  8000 0x58F33DEA  g711A   891     0 (0.0%) ..."
const ROW = /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-Fa-f]+)\s+.+?\s+(\d+)\s+(-?\d+) \(/;

function tsharkStreams(file: string, extraArgs: string[]): TsharkStream[] {
  const out = run('tshark', ['-r', file, '-q', '-o', 'rtp.heuristic_rtp:TRUE', ...extraArgs, '-z', 'rtp,streams']);
  const rows: TsharkStream[] = [];
  for (const line of out.split('\n')) {
    const m = ROW.exec(line);
    if (m) rows.push({ flow: `${m[1]}:${m[2]}>${m[3]}:${m[4]}`, ssrc: parseInt(m[5]!, 16), packets: Number(m[6]), lost: Number(m[7]) });
  }
  return rows;
}

const NO_TSHARK = HAS_TSHARK ? false : 'tshark is not installed (apt-get install tshark)';

for (const name of CAPTURES) {
  t.test(`${name}: RTP streams and SIP count agree with tshark`, { skip: NO_TSHARK }, async (t) => {
    const file = path.join(PCAP_DIR, name);
    const extraArgs = name.includes('t38') ? ['--disable-protocol', 't38'] : [];
    const theirs = tsharkStreams(file, extraArgs);
    t.ok(theirs.length > 0, `tshark lists ${theirs.length} streams`);
    const x = await extractCallsFromFile(file);
    const ours = new Map<string, RtpStream>();
    for (const s of [...x.calls.flatMap((c) => c.streams), ...x.unassociatedStreams]) {
      ours.set(`${s.src.host}:${s.src.port}>${s.dst.host}:${s.dst.port}`, s);
    }
    t.same([...ours.keys()].sort(), theirs.map((s) => s.flow).sort(), 'same flows');
    for (const s of theirs) {
      const mine = ours.get(s.flow);
      t.same(mine && [mine.ssrcs, mine.packetCount, mine.lostPackets], [[s.ssrc], s.packets, s.lost], `${s.flow}: SSRC, packets, lost`);
    }
    const sipCount = run('tshark', ['-r', file, '-Y', 'sip', '-T', 'fields', '-e', 'frame.number']).split('\n').filter((l) => l !== '').length;
    t.equal(x.stats.sip, sipCount, `${sipCount} SIP messages`);
  });
}
