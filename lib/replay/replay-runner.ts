import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { INFO_SUFFIX, parseInfoFile, type RecordingInfo } from '../evidence/info-file.js';
import { expandTemplate } from '../recording/naming.js';
import { parseWavHeader, WAV_DATA_OFFSET } from '../recording/wav-header.js';
import { replayCall, type ReplayedCall } from './call-replay.js';
import { extractCallsFromFile } from './index.js';
import { checkDirection, deinterleave, type DirectionCheck } from './recording-check.js';
import { ReplayEndpoint } from './replay-endpoint.js';

export interface CallVerdict {
  /** Call-ID in the capture, and of the replayed INVITE. */
  capturedCallId: string;
  replayedCallId: string;
  status: number | undefined;
  recording: string | undefined;
  directions: { 'caller->callee': DirectionCheck; 'callee->caller': DirectionCheck } | undefined;
  verdict: 'pass' | 'fail';
  notes: string[];
}

export interface ReplayOptions {
  speed: number;
  /** How long to wait for a recording to appear after a call ended. */
  recordingTimeoutMs: number;
  /** Shorten idle stretches of the capture to this (see timeWarp). */
  maxGapMs?: number;
}

/**
 * SPEC O2: replays every call of a capture through the running callrec
 * (this process plays the PBX and the provider on their configured
 * addresses) and checks, per direction, that the recording holds exactly
 * the RTP payload that was sent.
 */
export async function runReplay(capture: string, config: Config, logger: Logger, options: ReplayOptions): Promise<CallVerdict[]> {
  const extraction = await extractCallsFromFile(capture);
  const listen = config.sip.listen.find((l) => l.transport === 'udp');
  if (listen === undefined) throw new Error('replay needs a UDP listener in sip.listen');
  if (config.pbx.transport !== 'udp' || config.provider.transport !== 'udp') throw new Error('replay plays the PBX and the provider over UDP only');
  const pbx = await ReplayEndpoint.open({ protocol: 'udp', host: config.pbx.host, port: config.pbx.port }, logger);
  const provider = await ReplayEndpoint.open({ protocol: 'udp', host: config.provider.host, port: config.provider.port }, logger);
  const verdicts: CallVerdict[] = [];
  try {
    for (const call of extraction.calls) {
      const replayed = await replayCall(call, { pbx, provider, recorder: { protocol: 'udp', host: listen.host, port: listen.port }, speed: options.speed, maxGapMs: options.maxGapMs });
      const found = await waitForRecording(config, replayed.callId, options.recordingTimeoutMs);
      verdicts.push(await judge(call.callId, replayed, found));
    }
  } finally {
    pbx.close();
    provider.close();
  }
  return verdicts;
}

async function judge(capturedCallId: string, replayed: ReplayedCall, found: { dir: string; info: RecordingInfo; base: string } | undefined): Promise<CallVerdict> {
  const v: CallVerdict = { capturedCallId, replayedCallId: replayed.callId, status: replayed.status, recording: undefined, directions: undefined, verdict: 'fail', notes: [...replayed.notes] };
  const sentAny = replayed.sent['caller->callee'].length + replayed.sent['callee->caller'].length > 0;
  if (found === undefined) {
    v.notes.push('no recording names this call');
    v.verdict = sentAny ? 'fail' : 'pass';
    return v;
  }
  v.recording = path.join(found.dir, found.base);
  const caller = await channelOf(found, 'caller');
  const callee = await channelOf(found, 'callee');
  v.directions = {
    'caller->callee': checkDirection(replayed.sent['caller->callee'], replayed.audioPayloadType, caller ?? Buffer.alloc(0)),
    'callee->caller': checkDirection(replayed.sent['callee->caller'], replayed.audioPayloadType, callee ?? Buffer.alloc(0)),
  };
  for (const [dir, check] of Object.entries(v.directions)) {
    if (check.verdict === 'empty' && replayed.sent[dir as keyof ReplayedCall['sent']].length > 0) {
      v.notes.push(`${dir}: no packets of the negotiated payload type ${replayed.audioPayloadType ?? '?'} were sent`);
    }
  }
  v.verdict = Object.values(v.directions).every((d) => d.verdict !== 'fail') ? 'pass' : 'fail';
  return v;
}

/** The audio bytes of one party as recorded: a mono file of its own or its channel of the stereo file. */
async function channelOf(found: { dir: string; info: RecordingInfo; base: string }, leg: 'caller' | 'callee'): Promise<Buffer | undefined> {
  const own = found.info.audioFiles.find((f) => f === `${found.base}_${leg}.wav`);
  const shared = found.info.audioFiles.find((f) => f === `${found.base}.wav`);
  if (own !== undefined) return (await wavData(path.join(found.dir, own))).data;
  if (shared === undefined) return undefined;
  const { data, channels } = await wavData(path.join(found.dir, shared));
  if (channels === 2) return deinterleave(data, leg === 'caller' ? 0 : 1);
  return found.info.channels === leg ? data : undefined;
}

async function wavData(file: string): Promise<{ data: Buffer; channels: number }> {
  const bytes = await readFile(file);
  const h = parseWavHeader(bytes);
  return { data: bytes.subarray(WAV_DATA_OFFSET, WAV_DATA_OFFSET + h.dataBytes), channels: h.channels };
}

/** Looks in every local target folder (today) and the default folder for an info file naming the call. */
async function waitForRecording(config: Config, callId: string, timeoutMs: number): Promise<{ dir: string; info: RecordingInfo; base: string } | undefined> {
  const folders = new Set<string>([path.join(config.data.dir, 'recordings')]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = Date.now();
    for (const p of config.profiles) for (const t of p.targets) if (t.type === 'local') folders.add(expandTemplate(t.path, now));
    for (const dir of folders) {
      if (!existsSync(dir)) continue;
      for (const name of await readdir(dir)) {
        if (!name.endsWith(INFO_SUFFIX)) continue;
        const text = await readFile(path.join(dir, name), 'utf8').catch(() => '');
        if (!text.includes(callId)) continue;
        try {
          const info = parseInfoFile(text);
          if (info.callerCallId === callId) return { dir, info, base: name.slice(0, -INFO_SUFFIX.length) };
        } catch {
          // a half-written file of another recording: look again next round
        }
      }
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}
