/** The methods callrec handles on either leg (RFC 3261 §20.5). */
export const ALLOW_HEADER = 'INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO';
