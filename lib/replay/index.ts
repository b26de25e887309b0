/**
 * Capture reading and call extraction for `callrec replay <capture>`:
 * readCapture/readCaptureFile turn a pcap or pcapng file into UDP
 * datagrams; extractCalls turns those into SIP calls with their RTP.
 */
export { CaptureError } from './capture-error.js';
export {
  detectFormat, MAX_RECORD_BYTES, readCapture, readCaptureFile, readPcapFrames, readPcapngFrames,
  type Capture, type CaptureFormat, type CaptureFrame, type ReadCaptureOptions,
} from './capture-reader.js';
export { LinkType, PacketDecoder, type DecodeStats, type Endpoint, type UdpDatagram } from './packet-decoder.js';
export {
  classifyPayload, isRtcp, isRtp, looksLikeTelephoneEvent, STATIC_PAYLOAD_TYPES,
  type Classification, type DatagramKind,
} from './datagram-classifier.js';
export { sdpBodyOf, summarizeSdp, type MediaDirection, type SdpCodec, type SdpMedia, type SdpSummary } from './sdp-summary.js';
export {
  RtpStreamBuilder,
  type PacketRecord, type RtcpFlow, type RtpStream, type Side, type StreamCodec, type StreamDirection,
} from './rtp-streams.js';
export { correlateLegs, groupByCallId, type CallIdGroup, type CallLegs, type CapturedSip } from './sip-legs.js';
export {
  extractCalls,
  type CallMessage, type ExtractedCall, type Extraction, type ExtractOptions, type InviteSummary, type ReInvite, type SdpExchange,
} from './call-extractor.js';

import { readCaptureFile, type ReadCaptureOptions } from './capture-reader.js';
import { extractCalls, type Extraction, type ExtractOptions } from './call-extractor.js';

/** Reads a capture file and extracts its calls in one step. */
export async function extractCallsFromFile(path: string, options: ReadCaptureOptions & ExtractOptions = {}): Promise<Extraction> {
  const capture = await readCaptureFile(path, options);
  return extractCalls(capture.datagrams, options);
}
