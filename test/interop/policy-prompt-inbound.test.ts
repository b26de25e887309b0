/**
 * SPEC P6 (issue 5): an inbound call to a recorded group plays the profile's
 * inbound prompt to the caller before the call goes onward, then records.
 *
 *   SIPp UAC (as provider) --INVITE 300--> callrec --INVITE--> SIPp UAS (as PBX)
 *   test's UDP socket (the caller's SDP media port) <--RTP prompt-- callrec
 *
 * Verifies:
 * - callrec answers the caller with 183 and its own SDP offering only the
 *   chosen G.711 codec (PCMA, the caller's first) and telephone-event;
 * - the RTP the caller receives is one stream (own SSRC, marker on the first
 *   packet, consecutive sequence numbers, timestamps in steps of 160,
 *   payload type 8, 160-byte frames) whose payload equals the ITU-T G.711
 *   A-law encoding of the prompt WAV's samples (the last frame may be padded);
 * - only after the prompt does the INVITE reach the PBX, with the offer
 *   restricted to that codec (and telephone-event); the call completes on
 *   both sides;
 * - recording.start (profile "traders") comes after prompt.start, at least
 *   the prompt's length later, and the recording is delivered to the archive.
 * Does not verify: the recorded audio (media tests), PCMU prompts.
 */
import t from 'tap';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import {
  type CallrecInstance,
  type LogLine,
  type SippProcess,
  type SippResult,
  REPO_ROOT,
  describeSipp,
  freePort,
  releasePorts,
  runSipp,
  sippAvailable,
  startCallrec,
  startSipp,
} from './harness/index.js';
import { waitForRecordings, within } from './harness/operator.js';

const PROMPT = path.join(REPO_ROOT, 'fixtures', 'prompts', 'policy-tone-600hz-1s.wav');

/** The 16-bit samples of a mono PCM WAV (what sox wrote). */
function wavSamples(file: string): { rate: number; samples: Int16Array } {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${file}: not WAV`);
  let rate = 0;
  let bits = 0;
  let channels = 0;
  let data: Buffer | undefined;
  for (let at = 12; at + 8 <= b.length;) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    const body = b.subarray(at + 8, at + 8 + size);
    if (id === 'fmt ') {
      channels = body.readUInt16LE(2);
      rate = body.readUInt32LE(4);
      bits = body.readUInt16LE(14);
    } else if (id === 'data') data = body;
    at += 8 + size + (size % 2);
  }
  if (data === undefined || bits !== 16 || channels !== 1) throw new Error(`${file}: expected 16-bit mono PCM`);
  const samples = new Int16Array(data.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
  return { rate, samples };
}

/**
 * ITU-T G.711 A-law encoder (the reference algorithm of G.191's
 * alaw_compress): 13-bit magnitude of the 16-bit sample (one's complement
 * for negatives), segment by the highest set bit, 4 mantissa bits, sign bit
 * set for positive values, even bits inverted (XOR 0x55).
 */
function alaw(sample: number): number {
  const negative = sample < 0;
  const magnitude = (negative ? ~sample : sample) >> 4; // 12 bits: 0..2047
  let code: number;
  if (magnitude > 15) {
    let exponent = 1;
    while (magnitude >> (exponent + 4) !== 0 && exponent < 7) exponent++;
    const mantissa = (magnitude >> (exponent - 1)) & 0x0f;
    code = (exponent << 4) | mantissa;
  } else {
    code = magnitude;
  }
  code ^= 0x55;
  return negative ? code : code | 0x80;
}

interface RtpPacket {
  at: number;
  pt: number;
  marker: boolean;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
}

function parseRtp(buf: Buffer, at: number): RtpPacket | undefined {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return undefined;
  const cc = buf[0]! & 0x0f;
  const ext = (buf[0]! & 0x10) !== 0;
  let offset = 12 + cc * 4;
  if (ext) offset += 4 + buf.readUInt16BE(offset + 2) * 4;
  let end = buf.length;
  if ((buf[0]! & 0x20) !== 0) end -= buf[buf.length - 1]!;
  return {
    at,
    pt: buf[1]! & 0x7f,
    marker: (buf[1]! & 0x80) !== 0,
    seq: buf.readUInt16BE(2),
    ts: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset, end),
  };
}

/** The SDP body of the first message in a SIPp -trace_msg log that starts with `firstLine`. */
function messageBody(log: string, firstLine: RegExp): string | undefined {
  const blocks = log.split(/^-{20,}.*$/m);
  for (const block of blocks) {
    const text = block.replace(/^[^\n]*message (?:received|sent)[^\n]*\n+/m, '').replace(/^\s+/, '');
    if (!firstLine.test(text.split(/\r?\n/)[0] ?? '')) continue;
    const split = text.search(/\r?\n\r?\n/);
    return split >= 0 ? text.slice(split).trim() : '';
  }
  return undefined;
}

/**
 * When SIPp logged the first message whose first line matches: -trace_msg
 * writes "----- YYYY-MM-DD HH:MM:SS.ffffff" (local time) before each message.
 */
function messageTime(log: string, firstLine: RegExp): number | undefined {
  const re = /^-{20,}\s*(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\.(\d{3})\d*\s*$/gm;
  let m: RegExpExecArray | null;
  while ((m = re.exec(log)) !== null) {
    const rest = log.slice(re.lastIndex).replace(/^\s*\n[^\n]*message (?:received|sent)[^\n]*\n+/, '').replace(/^\s+/, '');
    if (!firstLine.test(rest.split(/\r?\n/)[0] ?? '')) continue;
    const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
    return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
  }
  return undefined;
}




function logTime(line: LogLine): number {
  return typeof line.time === 'number' ? line.time : Date.parse(String(line.time));
}

if (!sippAvailable()) {
  t.plan(0, 'sipp is not installed (run `make install` as root)');
} else {
  t.test('inbound call to a recorded group: prompt to the caller, then onward, then recording', async (t) => {
    const { rate, samples } = wavSamples(PROMPT);
    t.equal(rate, 8000, 'the prompt fixture is 8 kHz (no resampling in the expectation)');
    const expected = Buffer.from(Array.from(samples, alaw));

    // The caller's media port: the test's own socket, not SIPp's.
    const rtpPort = await freePort('udp');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(rtpPort, '127.0.0.1', () => resolve());
    });
    t.teardown(() => {
      sock.close();
      releasePorts(rtpPort);
    });
    const received: RtpPacket[] = [];
    sock.on('message', (msg) => {
      const p = parseRtp(msg, Date.now());
      if (p !== undefined) received.push(p);
    });

    const providerPort = await freePort('both');
    const pbx: SippProcess = await startSipp({ scenario: 'uas-basic', calls: 1, timeoutSeconds: 50 });
    t.teardown(() => pbx.stop());

    const rec: CallrecInstance = await startCallrec({
      pbx: { port: pbx.localPort },
      provider: { port: providerPort },
      overrides: {
        users: [
          { id: 'alice', name: 'Alice Trader', numbers: ['201'] },
          { id: 'bob', name: 'Bob Broker', numbers: ['202'] },
        ],
        groups: [{ id: 'traders', numbers: ['300'], members: ['alice', 'bob'] }],
        profiles: [
          {
            name: 'traders',
            direction: 'both',
            groups: ['traders'],
            prompts: { inbound: PROMPT },
            targets: [{ type: 'local', path: './archive/$Y/$M/$D' }],
          },
        ],
      },
    });
    t.teardown(() => rec.dispose());
    const loaded = await rec.waitForLog((l) => l.event === 'prompt.loaded', 1000);
    t.equal(loaded['durationMs'], 1000, 'prompt.loaded: 1000 ms');

    const uac: SippResult = await runSipp({
      scenario: 'policy-uac-prompt',
      remote: { port: rec.sipPort },
      localPort: providerPort,
      calls: 1,
      durationMs: 500,
      service: '300',
      keys: { caller: '0301234567' },
      set: { rtp_port: String(rtpPort) },
      timeoutSeconds: 40,
    });
    t.equal(uac.exitCode, 0, 'caller (provider-side SIPp) exits 0', { diagnostic: uac.exitCode !== 0, details: describeSipp(uac) });
    t.equal(uac.successful, 1, 'caller: 1 successful call');
    const callee = await within(pbx.done, 15000, 'PBX-side SIPp did not finish').catch(async (err: Error) => {
      t.fail(err.message);
      return pbx.stop();
    });
    t.equal(callee.exitCode, 0, 'callee (PBX-side SIPp) exits 0', { diagnostic: callee.exitCode !== 0, details: describeSipp(callee) });
    t.equal(callee.successful, 1, 'callee: 1 successful call');

    // 183 with callrec's own SDP: the chosen codec and telephone-event only.
    const early = messageBody(uac.messages, /^SIP\/2\.0 183\b/);
    t.ok(early, 'the caller received a 183 with a body', { messages: uac.messages.slice(0, 6000) });
    const earlyM = /^m=audio (\d+) RTP\/AVP ([\d ]+)\s*$/m.exec(early ?? '');
    t.same(earlyM?.[2]?.trim().split(/\s+/), ['8', '101'], '183 SDP offers only PCMA and telephone-event', { sdp: early });
    t.match(early ?? '', /^a=rtpmap:8 PCMA\/8000/m, '183 SDP: rtpmap PCMA');
    t.match(early ?? '', /^a=rtpmap:101 telephone-event\/8000/im, '183 SDP: rtpmap telephone-event');
    t.notMatch(early ?? '', /PCMU/, '183 SDP: no PCMU');

    // The prompt as the caller received it.
    t.ok(received.length > 0, 'the caller\'s media port received RTP');
    const first = received[0];
    if (first === undefined) return;
    const stream = received.filter((p) => p.ssrc === first.ssrc);
    const frames = Math.ceil(expected.length / 160);
    t.equal(stream.length, frames, `${frames} packets of the prompt's SSRC`);
    t.ok(first.marker, 'marker bit on the first packet');
    t.equal(stream.filter((p) => p.marker).length, 1, 'marker bit only on the first packet');
    t.ok(stream.every((p) => p.pt === 8), 'payload type 8 (PCMA) throughout');
    t.ok(stream.every((p) => p.payload.length === 160), '160-byte frames');
    t.ok(stream.every((p, i) => i === 0 || p.seq === ((stream[i - 1]!.seq + 1) & 0xffff)), 'consecutive sequence numbers');
    t.ok(stream.every((p, i) => i === 0 || p.ts === ((stream[i - 1]!.ts + 160) >>> 0)), 'timestamps advance by 160 per frame');
    const payload = Buffer.concat(stream.map((p) => p.payload));
    const head = payload.subarray(0, expected.length);
    const firstDiff = head.findIndex((b, i) => b !== expected[i]);
    t.equal(firstDiff, -1, 'the payload sequence equals the G.711 A-law encoding of the prompt samples', {
      offset: firstDiff,
      got: head.subarray(Math.max(0, firstDiff - 4), firstDiff + 12).toString('hex'),
      want: expected.subarray(Math.max(0, firstDiff - 4), firstDiff + 12).toString('hex'),
    });
    t.equal(head.length, expected.length, 'the whole prompt arrived');
    const padding = payload.subarray(expected.length);
    t.ok(padding.every((b) => b === expected[expected.length - 1]) || padding.every((b) => b === 0xd5 || b === 0x55), 'padding of the last frame (if any) is silence or the last sample');
    const span = stream[stream.length - 1]!.at - first.at;
    t.ok(span >= 600, `the prompt is paced in real time (${span} ms from first to last packet)`);

    // Then onward: the INVITE reached the PBX after the prompt, with the restricted offer.
    const promptStart = await rec.waitForLog((l) => l.event === 'prompt.start', 1000);
    t.equal(promptStart['codec'], 'PCMA', 'prompt.start: codec PCMA');
    const offer = messageBody(callee.messages, /^INVITE /);
    const offerM = /^m=audio \d+ RTP\/AVP ([\d ]+)\s*$/m.exec(offer ?? '');
    t.same(offerM?.[1]?.trim().split(/\s+/), ['8', '101'], 'the onward offer is restricted to PCMA and telephone-event', { sdp: offer });
    const inviteAt = messageTime(callee.messages, /^INVITE /);
    t.ok(inviteAt !== undefined, 'the PBX-side SIPp logged when the INVITE arrived');
    if (inviteAt !== undefined) {
      const after = inviteAt - logTime(promptStart);
      t.ok(after >= 950, `the INVITE reached the PBX ${after} ms after prompt.start (prompt: 1000 ms)`);
    }

    // Recording after the prompt.
    const start = await rec.waitForLog((l) => l.event === 'recording.start', 5000);
    t.equal(start['profile'], 'traders', 'recording.start: profile traders');
    t.equal(start['callId'], promptStart['callId'], 'recording.start and prompt.start name the same call');
    t.ok(rec.logs.indexOf(start) > rec.logs.indexOf(promptStart), 'recording.start is logged after prompt.start');
    const gap = logTime(start) - logTime(promptStart);
    t.ok(gap >= 950, `recording starts ${gap} ms after the prompt started (prompt: 1000 ms)`);
    await rec.waitForLog((l) => l.event === 'recording.sealed' && l['base'] === start['base'], 20000);
    const archived = await waitForRecordings(rec.archiveDir, 1, 15000);
    t.same(archived.map((b) => path.basename(b)), [start['base']], 'the recording is in the profile\'s archive folder');
    await rec.waitForLog((l) => l.event === 'call.end' && l['callId'] === start['callId'], 5000);
  });
}
