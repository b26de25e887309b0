import { readAudioStream } from '../sdp/audio-stream.js';
import { createResponse, SipRequest, type SipResponse } from '../sip/message/message.js';
import { Dialog } from '../sip/dialog/dialog.js';
import { buildCancel, type InviteServerTransaction, type ServerTransaction } from '../sip/transaction/index.js';
import type { Address } from '../sip/transport/transport.js';
import { formatHostPort } from '../sip/user-agent.js';
import { rtpPayloadEnd, rtpPayloadOffset } from '../media/rtp-header.js';
import type { ExtractedCall } from './call-extractor.js';
import type { ReplayEndpoint } from './replay-endpoint.js';
import { ReInviteAnswers, sendReInvite } from './re-invites.js';
import type { RtpStream, Side, StreamDirection } from './rtp-streams.js';
import type { SdpCodec } from './sdp-summary.js';

/** One RTP packet as the replay sent it into callrec. */
export interface SentPacket {
  ssrc: number;
  seq: number;
  timestamp: number;
  payloadType: number;
  payload: Buffer;
}

export interface ReplayedCall {
  /** Call-ID of the INVITE the replay sent (the recording names it). */
  callId: string;
  /** Final status callrec relayed to the caller. */
  status: number | undefined;
  /** Audio payload type per direction (the codec that was negotiated). */
  audioPayloadType: number | undefined;
  codecName: string | undefined;
  sent: Record<'caller->callee' | 'callee->caller', SentPacket[]>;
  /** The capture's re-INVITEs as replayed: who sent it, the captured final status, the one callrec relayed. */
  reInvites: Array<{ by: Side; captured: number | undefined; status: number | undefined }>;
  notes: string[];
}

export interface ReplayEnv {
  pbx: ReplayEndpoint;
  provider: ReplayEndpoint;
  /** callrec's SIP address as the PBX and the provider reach it. */
  recorder: Address;
  speed: number;
  /** Idle stretches of the capture (no SIP, no RTP) longer than this are shortened to it. */
  maxGapMs?: number;
}

/**
 * Capture time -> milliseconds after the call's start, with every stretch in
 * which nothing at all happened (no SIP message, no packet in any direction)
 * shortened to `maxGapMs`. Gaps inside media are kept whole, so RTP
 * timestamps and arrival times stay consistent.
 */
export function timeWarp(call: ExtractedCall, maxGapMs: number): (captureMs: number) => number {
  const t0 = call.startMs;
  if (!Number.isFinite(maxGapMs)) return (ms) => ms - t0;
  const times = [...call.messages.map((m) => m.timeMs), ...call.streams.flatMap((s) => s.packets.map((p) => p.timeMs))].sort((a, b) => a - b);
  const cuts: { at: number; removed: number }[] = [];
  let removed = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    if (gap > maxGapMs) {
      removed += gap - maxGapMs;
      cuts.push({ at: times[i]!, removed });
    }
  }
  return (ms) => {
    let r = 0;
    for (const c of cuts) if (c.at <= ms) r = c.removed; else break;
    return ms - t0 - r;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Replays one captured call through callrec: the PBX end places it with the
 * capture's numbers and offer, the provider end answers as the capture's
 * far end did (ringing, early media, answer or failure), both ends send the
 * captured RTP with the original timing (divided by `speed`), and the side
 * that hung up in the capture sends BYE.
 */
export async function replayCall(call: ExtractedCall, env: ReplayEnv): Promise<ReplayedCall> {
  const notes: string[] = [];
  const t0 = call.startMs;
  let started = Date.now();
  const warp = timeWarp(call, env.maxGapMs ?? Infinity);
  const at = (captureMs: number): number => started + warp(captureMs) / env.speed;
  const offer = codecsOf(call, 'caller');
  const answer = codecsOf(call, 'callee') ?? offer;
  const result: ReplayedCall = { callId: '', status: undefined, audioPayloadType: undefined, codecName: undefined, sent: { 'caller->callee': [], 'callee->caller': [] }, reInvites: [], notes };

  // Where each end must send its RTP: learned from the SDP callrec sends it.
  let toRecorderFromPbx: { host: string; port: number } | undefined;
  let toRecorderFromProvider: { host: string; port: number } | undefined;
  const learn = (body: Buffer): { host: string; port: number } | undefined => {
    try {
      const s = body.length > 0 ? readAudioStream(body.toString('utf8')) : undefined;
      // A hold address (c=0.0.0.0, RFC 3264 §8.4) or a disabled stream names no destination: keep the last one.
      return s !== undefined && s.port !== 0 && s.host !== '0.0.0.0' && s.host !== '::' ? { host: s.host, port: s.port } : undefined;
    } catch {
      return undefined;
    }
  };

  /** A new destination for one end's RTP, when an SDP named one. */
  const steer = (side: Side, to: { host: string; port: number } | undefined): void => {
    if (to === undefined) return;
    if (side === 'caller') toRecorderFromPbx = to;
    else toRecorderFromProvider = to;
  };

  // A re-INVITE from callrec (the other end's, relayed) is answered as the capture's far end did.
  const reAnswers = new ReInviteAnswers(call, (ep, version) => sdpFor(ep.address.host, ep.rtpPort, ep === env.pbx ? offer : answer, version));
  const inDialog = (side: Side) => (tx: ServerTransaction, req: SipRequest): void => {
    if (req.method !== 'INVITE') return tx.respond(createResponse(req, 200));
    steer(side, learn(req.body));
    const ep = side === 'caller' ? env.pbx : env.provider;
    reAnswers.answer(ep, side, tx as InviteServerTransaction, req);
  };
  env.pbx.handlers = { onRequest: inDialog('caller') };

  // Provider end: answers as the capture's callee did.
  const calleeDone = new Promise<void>((resolve) => {
    env.provider.handlers = {
      onInvite: (tx, req) => {
        toRecorderFromProvider = learn(req.body);
        void answerAsCaptured(call, env, tx, req, answer, at).then(resolve);
      },
      onCancel: (tx) => {
        try {
          tx.respond(createResponse(tx.request, 487, undefined, 'replay'));
        } catch {
          // already answered
        }
      },
      onRequest: inDialog('callee'),
    };
  });

  // PBX end: places the call.
  const ua = env.pbx.ua;
  const local = env.pbx.address;
  const user = call.invite?.requestUser ?? '100';
  const invite = new SipRequest('INVITE', `sip:${user}@${formatHostPort(env.recorder)}`);
  invite.append('From', `<sip:${call.invite?.fromUser ?? 'caller'}@${formatHostPort(local)}>;tag=${ua.newTag()}`);
  invite.append('To', `<sip:${call.invite?.toUser ?? user}@${formatHostPort(env.recorder)}>`);
  result.callId = ua.newCallId();
  invite.append('Call-ID', result.callId);
  invite.append('CSeq', '1 INVITE');
  invite.append('Contact', ua.contact(local.protocol));
  invite.setBody(sdpFor(local.host, env.pbx.rtpPort, offer), 'application/sdp');
  let dialog: Dialog | undefined;
  let answered = false;
  const finalReceived = new Promise<void>((resolve) => {
    env.pbx.send(invite, env.recorder, {
      onResponse: (res: SipResponse) => {
        if (res.body.length > 0) toRecorderFromPbx = learn(res.body) ?? toRecorderFromPbx;
        if (res.status < 200) return;
        result.status ??= res.status;
        if (res.status < 300) {
          if (dialog === undefined) {
            dialog = Dialog.asUac(invite, res);
            answered = true;
          }
          ua.sendAck(dialog.createRequest('ACK', 1), env.recorder);
        }
        resolve();
      },
      onTimeout: () => {
        notes.push('INVITE timed out');
        resolve();
      },
      onTransportError: (err) => {
        notes.push(`INVITE transport error: ${err.message}`);
        resolve();
      },
    });
  });
  // A caller that cancelled, or a call the capture never saw answered: CANCEL when the capture did (or ends).
  const cancelAt = call.cancelled && call.outcome !== undefined ? call.outcome.timeMs : call.outcome === undefined ? call.endMs + 500 : undefined;
  if (cancelAt !== undefined) {
    void sleep(at(cancelAt) - Date.now() - 1).then(() => {
      if (result.status === undefined) env.pbx.ua.transactions.sendRequest(buildCancel(invite), env.recorder, { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} });
    });
  }

  // A capture without SIP starts with its media: our call must be up before the first packet's time.
  if (call.synthetic) {
    await finalReceived;
    started = Date.now();
  }
  // Media: every captured packet at its time, once the destination is known.
  const audio = answer?.find((c) => isAudio(c)) ?? offer?.find((c) => isAudio(c));
  result.audioPayloadType = audio?.payloadType ?? mainPayloadType(call.streams);
  result.codecName = audio?.name;
  const senders = call.streams
    .filter((s) => s.direction !== 'unknown')
    .map((s) => sendStream(s, s.direction === 'caller->callee' ? env.pbx : env.provider, () => (s.direction === 'caller->callee' ? toRecorderFromPbx : toRecorderFromProvider), at, result.sent[s.direction as Exclude<StreamDirection, 'unknown'>]));
  // The capture's re-INVITEs, each at its time, from the side that sent it, once the call is up.
  const reInvitesDone = finalReceived.then(async () => {
    await calleeDone;
    for (const re of call.reInvites) {
      await sleep(at(re.timeMs) - Date.now());
      const ep = re.by === 'caller' ? env.pbx : env.provider;
      const d = re.by === 'caller' ? dialog : providerDialogs.get(env.provider);
      if (!answered || d === undefined) {
        notes.push(`re-INVITE from the ${re.by} not replayed: the call is not up`);
        continue;
      }
      const codecs = re.by === 'caller' ? offer : answer;
      reAnswers.expect(re);
      const sent = await sendReInvite(ep, d, env.recorder, re.offer, reAnswers.versionOf(ep), (v) => sdpFor(ep.address.host, ep.rtpPort, codecs, v));
      reAnswers.expect(undefined);
      result.reInvites.push({ by: re.by, captured: re.status, status: sent.status });
      if (sent.note !== undefined) notes.push(sent.note);
      if (sent.answerBody !== undefined) steer(re.by, learn(sent.answerBody));
      if (re.status !== undefined && sent.status !== re.status) notes.push(`re-INVITE from the ${re.by}: ${sent.status ?? 'no answer'}, the capture had ${re.status}`);
    }
  });
  await Promise.all([...senders, finalReceived.then(() => undefined), reInvitesDone]);
  if (result.reInvites.length > 0) notes.push(`re-INVITEs replayed: ${result.reInvites.map((r) => `${r.by} ${r.status ?? 'no answer'}`).join(', ')}`);
  await calleeDone;

  // Hang up as in the capture, or after the last packet.
  if (answered && dialog !== undefined) {
    const byeAt = call.bye !== undefined ? at(call.bye.timeMs) : at(call.endMs) + 500;
    await sleep(byeAt - Date.now());
    if (call.bye?.by === 'callee') await sendBye(env.provider, env.recorder, notes);
    else await sendByeFrom(env.pbx, dialog, env.recorder, notes);
  }
  return result;
}

/** The provider end answers the INVITE as the capture's callee did. */
async function answerAsCaptured(call: ExtractedCall, env: ReplayEnv, tx: InviteServerTransaction, req: SipRequest, answer: SdpCodec[] | undefined, at: (ms: number) => number): Promise<void> {
  const tag = env.provider.ua.newTag();
  const sdp = sdpFor(env.provider.address.host, env.provider.rtpPort, answer);
  const respond = (status: number, withSdp: boolean): void => {
    const res = createResponse(req, status, undefined, tag);
    res.append('Contact', env.provider.ua.contact('udp'));
    if (withSdp) res.setBody(sdp, 'application/sdp');
    try {
      tx.respond(res);
    } catch {
      // the transaction ended (CANCEL): nothing more to say
    }
  };
  const ringing = call.messages.find((m) => m.message.kind === 'response' && m.message.status === 180 && m.side === 'callee' && !m.retransmission);
  if (ringing !== undefined) {
    await sleep(at(ringing.timeMs) - Date.now());
    respond(180, false);
  }
  for (const early of call.earlyMedia) {
    await sleep(at(early.timeMs) - Date.now());
    respond(early.status, true);
  }
  const outcome = call.outcome;
  if (call.synthetic || (outcome !== undefined && outcome.status < 300)) {
    if (outcome !== undefined) await sleep(at(outcome.timeMs) - Date.now());
    respond(200, true);
  } else if (outcome !== undefined && !call.cancelled) {
    // Media captured after the failure (capture points see packets late) was sent during the
    // early dialog: keep the dialog up until it has been sent.
    const lastMedia = Math.max(0, ...call.streams.map((st) => st.lastMs));
    await sleep(at(Math.max(outcome.timeMs, lastMedia + 200)) - Date.now());
    respond(outcome.status >= 300 ? outcome.status : 480, false);
  }
  // The provider end may hang up later (BYE from its dialog).
  providerDialogs.set(env.provider, Dialog.asUas(req, tag, 'confirmed'));
}

const providerDialogs = new WeakMap<ReplayEndpoint, Dialog>();

async function sendBye(ep: ReplayEndpoint, to: Address, notes: string[]): Promise<void> {
  const dialog = providerDialogs.get(ep);
  if (dialog === undefined) {
    notes.push('no provider dialog to send BYE from');
    return;
  }
  await sendByeFrom(ep, dialog, to, notes);
}

function sendByeFrom(ep: ReplayEndpoint, dialog: Dialog, to: Address, notes: string[]): Promise<void> {
  return new Promise((resolve) => {
    ep.send(dialog.createRequest('BYE'), to, {
      onResponse: (res) => {
        if (res.status >= 200) resolve();
      },
      onTimeout: () => {
        notes.push('BYE timed out');
        resolve();
      },
      onTransportError: () => resolve(),
    });
  });
}

/** Sends a captured stream's packets unchanged at their captured times. */
async function sendStream(stream: RtpStream, from: ReplayEndpoint, dest: () => { host: string; port: number } | undefined, at: (ms: number) => number, log: SentPacket[]): Promise<void> {
  for (const p of stream.packets) {
    const wait = at(p.timeMs) - Date.now();
    if (wait > 1) await sleep(wait);
    let d = dest();
    for (let tries = 0; d === undefined && tries < 200; tries++) {
      await sleep(10);
      d = dest();
    }
    if (d === undefined || from.rtp === undefined) return;
    from.rtp.send(p.data, d.port, d.host);
    const start = rtpPayloadOffset(p.data);
    const end = start < 0 ? -1 : rtpPayloadEnd(p.data, start);
    if (start >= 0 && end >= start) {
      log.push({ ssrc: p.data.readUInt32BE(8), seq: p.data.readUInt16BE(2), timestamp: p.data.readUInt32BE(4), payloadType: p.data[1]! & 0x7f, payload: p.data.subarray(start, end) });
    }
  }
}

function codecsOf(call: ExtractedCall, side: 'caller' | 'callee'): SdpCodec[] | undefined {
  const ex = call.sdp.find((s) => s.side === side);
  const m = ex?.sdp.media.find((x) => x.type === 'audio' && x.port !== 0);
  if (m !== undefined && m.codecs.length > 0) return m.codecs;
  // RTP-only capture: the codecs the streams carry.
  const stream = call.streams.find((s) => s.codecs.length > 0);
  if (stream === undefined) return undefined;
  return stream.codecs.map((c) => ({ payloadType: c.payloadType, name: c.name, clockRate: c.clockRate, channels: 1, fmtp: undefined }));
}

function isAudio(c: SdpCodec): boolean {
  const n = c.name.toUpperCase();
  return n !== 'TELEPHONE-EVENT' && n !== 'CN';
}

function mainPayloadType(streams: RtpStream[]): number | undefined {
  let best: number | undefined;
  let count = -1;
  for (const s of streams) for (const [pt, n] of Object.entries(s.packetsByPayloadType)) if (n > count) { count = n; best = Number(pt); }
  return best;
}

/** A minimal offer or answer for the replay end's RTP socket with the captured codecs. */
function sdpFor(host: string, port: number, codecs: SdpCodec[] | undefined, version = 1): string {
  const list = codecs !== undefined && codecs.length > 0 ? codecs : [{ payloadType: 8, name: 'PCMA', clockRate: 8000, channels: 1, fmtp: undefined }];
  const lines = ['v=0', `o=replay 1 ${version} IN IP4 ${host}`, 's=callrec replay', `c=IN IP4 ${host}`, 't=0 0', `m=audio ${port} RTP/AVP ${list.map((c) => c.payloadType).join(' ')}`];
  for (const c of list) {
    lines.push(`a=rtpmap:${c.payloadType} ${c.name}/${c.clockRate}`);
    if (c.fmtp !== undefined) lines.push(`a=fmtp:${c.payloadType} ${c.fmtp}`);
  }
  lines.push('a=sendrecv', '');
  return lines.join('\r\n');
}
