/**
 * Audio placed by RTP timestamp under loss, reordering, duplicates, an SSRC
 * change and 16/32-bit wrap-around (SPEC M6). The provider side is a small
 * SIP UAS written here (UDP, answers PCMA, hangs up with BYE) whose RTP
 * sender plays fixtures/audio/callee.al packet by packet (20 ms, 160 bytes)
 * to callrec and misbehaves on purpose; the PBX side is SIPp (uac-recv-bye,
 * no media of its own). Two subtests:
 *   1. loss / reorder / duplicate / SSRC change: packets 30-32 dropped,
 *      50<->51 swapped, 70 sent after 73, 90 sent twice, from packet 120 on
 *      a new SSRC with new sequence numbers and timestamps;
 *   2. wrap-around: sequence numbers from 65500 (wrap at packet 35) and
 *      timestamps from 2^32 - 80*160 (wrap at packet 80), with the packets
 *      around both wraps swapped.
 *
 * Verifies: the SIPp side completes the call (it receives the relayed BYE);
 * in the callee channel, the first SSRC's packets lie at exactly their
 * timestamp's place, in order, each once, and the 3 lost packets are
 * exactly 480 bytes of A-law silence (0xD5); the second SSRC's packets are
 * all there, contiguous and bit-exact, after the first SSRC's audio (never
 * over it) and within 250 ms of where wall-clock time puts them, with only
 * silence between; with wrap-around, all 150 packets are one contiguous,
 * bit-exact run.
 * Does not verify: jitter beyond callrec's reorder window, clock drift
 * (unit tests of the timeline), the caller channel (silence here).
 */
import dgram from 'node:dgram';
import path from 'node:path';
import t, { type Test } from 'tap';
import { type CallrecInstance, describeSipp, freePort, runSipp, sippAvailable } from './harness/index.js';
import {
  CODECS,
  PACKET_BYTES,
  type Recording,
  channelOf,
  firstNonSilence,
  hexAround,
  readAudio,
  readWav,
  startCallrecRetrying,
  waitForRecording,
  withPortRetry,
} from './media-support.test.js';

const codec = CODECS.PCMA;
const SILENCE = codec.silence;

// ---------------------------------------------------------------- a minimal UAS with an RTP sender

interface Planned {
  /** Index of the 160-byte slice of the audio file (its natural position). */
  index: number;
  ssrc: number;
  seq: number;
  ts: number;
  marker: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function headerValues(msg: string, names: string): string[] {
  const head = msg.slice(0, msg.indexOf('\r\n\r\n') >= 0 ? msg.indexOf('\r\n\r\n') : msg.length);
  const re = new RegExp(`^(?:${names})\\s*:\\s*(.*)$`, 'gim');
  return [...head.matchAll(re)].map((m) => (m[1] ?? '').trim());
}

class RtpPeerUas {
  private invite: { msg: string; rinfo: dgram.RemoteInfo } | undefined;
  private acked!: () => void;
  readonly ack: Promise<void> = new Promise((r) => {
    this.acked = r;
  });
  private byeAnswered = false;
  private readonly tag = `peer${process.pid}${Date.now() % 100000}`;

  private constructor(
    readonly sip: dgram.Socket,
    readonly rtp: dgram.Socket,
    readonly sipPort: number,
    readonly mediaPort: number,
  ) {
    sip.on('message', (buf, rinfo) => this.onMessage(buf.toString('latin1'), rinfo));
  }

  static async open(): Promise<RtpPeerUas> {
    const bind = async (): Promise<{ socket: dgram.Socket; port: number }> =>
      withPortRetry(async () => {
        const port = await freePort('udp');
        const socket = dgram.createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, '127.0.0.1', () => resolve());
        }).catch((err: Error) => {
          socket.close();
          throw new Error(`EADDRINUSE ${err.message}`);
        });
        return { socket, port };
      });
    const sip = await bind();
    const rtp = await bind();
    return new RtpPeerUas(sip.socket, rtp.socket, sip.port, rtp.port);
  }

  close(): void {
    this.sip.close();
    this.rtp.close();
  }

  private send(text: string, rinfo: { address: string; port: number }): void {
    this.sip.send(Buffer.from(text, 'latin1'), rinfo.port, rinfo.address);
  }

  private respond(req: string, rinfo: dgram.RemoteInfo, status: string, body = ''): void {
    const lines = [`SIP/2.0 ${status}`];
    for (const v of headerValues(req, 'Via|v')) lines.push(`Via: ${v}`);
    lines.push(`From: ${headerValues(req, 'From|f')[0]}`);
    const to = headerValues(req, 'To|t')[0] ?? '';
    lines.push(`To: ${/;tag=/i.test(to) ? to : `${to};tag=${this.tag}`}`);
    lines.push(`Call-ID: ${headerValues(req, 'Call-ID|i')[0]}`, `CSeq: ${headerValues(req, 'CSeq')[0]}`);
    lines.push(`Contact: <sip:peer@127.0.0.1:${this.sipPort}>`);
    if (body) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    this.send(lines.join('\r\n'), rinfo);
  }

  private sdp(): string {
    return ['v=0', 'o=peer 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=audio ${this.mediaPort} RTP/AVP 8`, 'a=rtpmap:8 PCMA/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
  }

  private onMessage(msg: string, rinfo: dgram.RemoteInfo): void {
    const first = msg.slice(0, msg.indexOf('\r\n'));
    if (first.startsWith('INVITE ')) {
      if (this.invite === undefined) {
        this.invite = { msg, rinfo };
        const resend = setInterval(() => {
          if (this.invite === undefined || this.acknowledged) clearInterval(resend);
          else this.respond(msg, rinfo, '200 OK', this.sdp());
        }, 500);
      }
      this.respond(msg, rinfo, '200 OK', this.sdp());
    } else if (first.startsWith('ACK ')) {
      this.acknowledged = true;
      this.acked();
    } else if (/^[A-Z]+ /.test(first)) {
      this.respond(msg, rinfo, '200 OK');
    } else if (first.startsWith('SIP/2.0 200') && /BYE/i.test(headerValues(msg, 'CSeq')[0] ?? '')) {
      this.byeAnswered = true;
    }
  }

  private acknowledged = false;

  /** Where the offer (callrec's B leg) wants RTP. */
  mediaTarget(): { host: string; port: number } {
    if (this.invite === undefined) throw new Error('no INVITE yet');
    const body = this.invite.msg.slice(this.invite.msg.indexOf('\r\n\r\n') + 4);
    const host = /^c=IN IP4 (\S+)/m.exec(body)?.[1] ?? '127.0.0.1';
    const port = Number(/^m=audio (\d+)/m.exec(body)?.[1] ?? NaN);
    return { host, port };
  }

  /** Sends the plan, packet k of `order` at t0 + (its index) x 20 ms. */
  async sendRtp(order: Planned[], audio: Buffer): Promise<void> {
    const { host, port } = this.mediaTarget();
    const t0 = Date.now();
    for (const p of order) {
      const pkt = Buffer.alloc(12 + PACKET_BYTES);
      pkt[0] = 0x80;
      pkt[1] = (p.marker ? 0x80 : 0) | codec.pt;
      pkt.writeUInt16BE(p.seq & 0xffff, 2);
      pkt.writeUInt32BE(p.ts >>> 0, 4);
      pkt.writeUInt32BE(p.ssrc >>> 0, 8);
      audio.copy(pkt, 12, p.index * PACKET_BYTES, (p.index + 1) * PACKET_BYTES);
      const wait = t0 + p.index * 20 - Date.now();
      if (wait > 0) await sleep(wait);
      await new Promise<void>((resolve) => this.rtp.send(pkt, port, host, () => resolve()));
    }
  }

  /** BYE toward callrec (callee hangs up); resolves true once it is answered. */
  async hangUp(): Promise<boolean> {
    const inv = this.invite;
    if (inv === undefined) return false;
    const contact = /<([^>]+)>/.exec(headerValues(inv.msg, 'Contact|m')[0] ?? '')?.[1] ?? `sip:${inv.rinfo.address}:${inv.rinfo.port}`;
    const lines = [
      `BYE ${contact} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=z9hG4bK${Date.now().toString(36)}x`,
      `From: ${headerValues(inv.msg, 'To|t')[0]};tag=${this.tag}`,
      `To: ${headerValues(inv.msg, 'From|f')[0]}`,
      `Call-ID: ${headerValues(inv.msg, 'Call-ID|i')[0]}`,
      'CSeq: 1 BYE',
      ...headerValues(inv.msg, 'Record-Route').map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    for (let n = 0; n < 10 && !this.byeAnswered; n++) {
      this.send(lines, inv.rinfo);
      await sleep(500);
    }
    return this.byeAnswered;
  }
}

// ---------------------------------------------------------------- one call with the peer

async function callWithPeer(t: Test, plan: Planned[]): Promise<{ rec: CallrecInstance; recording: Recording; channel: Buffer }> {
  const audio = readAudio('callee.al');
  const peer = await RtpPeerUas.open();
  t.teardown(() => peer.close());
  const pbxPort = await freePort('both');
  const rec = await startCallrecRetrying({ pbx: { port: pbxPort }, provider: { port: peer.sipPort } });
  t.teardown(() => rec.dispose());
  const uacDone = runSipp({
    scenario: 'uac-recv-bye',
    remote: { port: rec.sipPort },
    localPort: pbxPort,
    calls: 1,
    service: '0301234567',
    keys: { caller: '201' },
    timeoutSeconds: 40,
  });
  const acked = await Promise.race([
    peer.ack.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
  ]);
  t.ok(acked, 'the call is set up through callrec (the UAS got the ACK)');
  await peer.sendRtp(plan, audio);
  await sleep(500);
  t.ok(await peer.hangUp(), 'the UAS hangs up: its BYE is answered');
  const uac = await uacDone;
  t.equal(uac.exitCode, 0, 'PBX-side SIPp completes the call (receives the relayed BYE)', { diagnostic: uac.exitCode !== 0, details: describeSipp(uac) });
  const recording = await waitForRecording(rec);
  const wav = readWav(path.join(recording.folder, `${recording.name}.wav`));
  return { rec, recording, channel: channelOf(wav, 1) };
}

/** Compares `expected` with the channel from `at`; first difference or -1. */
function firstDifference(channel: Buffer, at: number, expected: Buffer): number {
  for (let i = 0; i < expected.length; i++) if (channel[at + i] !== expected[i]) return at + i;
  return -1;
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('loss is silence of exact length, reordering repaired, duplicates dropped, both SSRCs bit-exact', async (t) => {
    const A = 0x5eed0001;
    const B = 0x7a11b002;
    const natural: Planned[] = [];
    for (let i = 0; i < 200; i++) {
      natural.push(
        i < 120
          ? { index: i, ssrc: A, seq: 1000 + i, ts: 160_000 + i * 160, marker: i === 0 }
          : { index: i, ssrc: B, seq: 40_000 + i - 120, ts: 3_000_000_000 + (i - 120) * 160, marker: i === 120 },
      );
    }
    const lost = new Set([30, 31, 32]);
    const order = natural.filter((p) => !lost.has(p.index));
    const move = (from: number, after: number): void => {
      const p = order.splice(order.findIndex((x) => x.index === from), 1)[0]!;
      order.splice(order.findIndex((x) => x.index === after) + 1, 0, p);
    };
    move(50, 51); // 51, 50
    move(70, 73); // 71, 72, 73, 70
    order.splice(order.findIndex((x) => x.index === 90) + 1, 0, { ...natural[90]! }); // 90 twice
    // Send times follow the natural index (a reordered packet goes out with its neighbours).
    const { channel } = await callWithPeer(t, order);

    const audio = readAudio('callee.al');
    const a0 = firstNonSilence(channel, SILENCE) - (firstNonSilence(audio, SILENCE));
    t.ok(a0 >= 0, `first SSRC starts at channel byte ${a0}`);
    const expectedA = Buffer.from(audio.subarray(0, 120 * PACKET_BYTES));
    expectedA.fill(SILENCE, 30 * PACKET_BYTES, 33 * PACKET_BYTES);
    const diffA = firstDifference(channel, a0, expectedA);
    t.equal(diffA, -1, 'first SSRC: every packet at its timestamp\'s place, 480 bytes of silence for the 3 lost, reordered packets in order, the duplicate once', {
      details: diffA >= 0 ? `first difference at channel byte ${diffA} (packet ${Math.floor((diffA - a0) / PACKET_BYTES)}): ${hexAround(channel, diffA)} expected ${hexAround(expectedA, diffA - a0)}` : '',
    });
    const gap = channel.subarray(a0 + 30 * PACKET_BYTES, a0 + 33 * PACKET_BYTES);
    t.ok(gap.every((b) => b === SILENCE), 'the gap of the lost packets is A-law silence (0xD5)');
    t.ok(channel[a0 + 33 * PACKET_BYTES] === audio[33 * PACKET_BYTES], 'audio resumes right after exactly 3 packets of silence');

    const endA = a0 + 120 * PACKET_BYTES;
    const firstB = audio.subarray(120 * PACKET_BYTES, 121 * PACKET_BYTES);
    const b0 = channel.indexOf(firstB, endA - PACKET_BYTES);
    t.ok(b0 >= endA, `second SSRC starts at byte ${b0}, after the first SSRC's audio (ends at ${endA}), not over it`);
    t.ok(b0 >= 0 && b0 - endA <= 2000, `second SSRC placed ${((b0 - endA) / 8).toFixed(1)} ms after where wall-clock time puts it (<= 250 ms)`);
    if (b0 >= endA) {
      t.ok(channel.subarray(endA, b0).every((b) => b === SILENCE), 'only silence between the two SSRCs');
      const expectedB = audio.subarray(120 * PACKET_BYTES, 200 * PACKET_BYTES);
      const diffB = firstDifference(channel, b0, expectedB);
      t.equal(diffB, -1, 'second SSRC: all 80 packets contiguous and bit-exact', {
        details: diffB >= 0 ? `first difference at channel byte ${diffB}: ${hexAround(channel, diffB)}` : '',
      });
    }
  });

  t.test('sequence number and timestamp wrap-around: one contiguous bit-exact run', async (t) => {
    const plan: Planned[] = [];
    for (let i = 0; i < 150; i++) {
      plan.push({ index: i, ssrc: 0x0bad5eed, seq: (65_500 + i) & 0xffff, ts: (2 ** 32 - 80 * 160 + i * 160) >>> 0, marker: i === 0 });
    }
    // Swap the packets around both wraps.
    for (const i of [35, 79]) [plan[i], plan[i + 1]] = [plan[i + 1]!, plan[i]!];
    const { channel } = await callWithPeer(t, plan);
    const audio = readAudio('callee.al');
    const a0 = firstNonSilence(channel, SILENCE) - firstNonSilence(audio, SILENCE);
    const expected = audio.subarray(0, 150 * PACKET_BYTES);
    const diff = firstDifference(channel, a0, expected);
    t.equal(diff, -1, 'all 150 packets in place across both wraps', {
      details: diff >= 0 ? `first difference at channel byte ${diff} (packet ${Math.floor((diff - a0) / PACKET_BYTES)}): ${hexAround(channel, diff)}` : '',
    });
    const after = channel.subarray(a0 + expected.length);
    t.ok(after.every((b) => b === SILENCE), 'nothing but silence after the run (no packet placed a wrap away)');
  });
}
