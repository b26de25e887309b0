/**
 * Interop harness: real callrec processes against real SIPp peers.
 *
 * Scenario pairs in fixtures/sipp (one behaviour per file):
 *   uac-basic       / uas-basic         call, caller hangs up
 *   uac-recv-bye    / uas-hangup        call, callee hangs up
 *   uac-cancel      / uas-ring-cancel   CANCEL while ringing (200, 487, ACK)
 *   uac-busy        / uas-busy          486 Busy Here, ACK hop by hop
 *   (callrec answers the challenge) / uas-auth   401 digest MD5 qop=auth (-set user/pass)
 *   uac-auth        / uas-auth          the same without callrec (-au/-ap)
 *   uac-reinvite    / uas-reinvite      re-INVITE (hold) after the answer
 *   uac-100rel      / uas-100rel        183 reliable + PRACK (RFC 3262)
 *   uac-info        / uas-info          INFO (dtmf-relay) in the dialog
 *   uac-options     / uas-options       OPTIONS out of dialog
 *   uac-forbidden                       expects 403 (caller neither PBX nor provider)
 */
export * from './callrec.js';
export * from './paths.js';
export * from './ports.js';
export * from './processes.js';
export * from './sipp.js';
