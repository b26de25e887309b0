/*
 * Forwarding fast path of the media engine.
 *
 * Once JavaScript has settled how a socket's RTP is relayed (where the
 * other party is, no SRTP, what the recording needs), it installs a rule on
 * that socket: datagrams that arrive on it are
 * sent from `out_fd` to the rule's address, unchanged, and, when the call is
 * recorded, their payload and an index record are appended to a capture
 * area that JavaScript owns (the spool batch, spool-format.ts's layout),
 * without calling into JavaScript at all. This is what kernel forwarding
 * does in rtpengine: user space decides, the fast path only moves packets.
 * While the party's own source is not latched yet, the rule also reports
 * the first datagram it relays to JavaScript (`notify_source`), which
 * latches that source for the other direction (symmetric RTP).
 *
 * Whatever the rule cannot handle goes the ordinary way, to JavaScript:
 * anything that is not plain RTP version 2 (RTCP, STUN, garbage, bad
 * padding), the payload type the rule names as slow (telephone-events: key
 * presses are detected in JavaScript, RFC 4733), and a recorded packet that
 * finds no room in the capture area (JavaScript writes the batch out and
 * hands a new one over). After one such packet, the rest of that socket's
 * datagrams go the ordinary way too until JavaScript has had it (see
 * media_io.c), so their order (on the wire and in the spool) is kept.
 */
#ifndef CALLREC_FAST_PATH_H
#define CALLREC_FAST_PATH_H

#include <stdint.h>

#include "send_queue.h"

/* Octets per index record (lib/media/capture-format.ts). */
#define CAPTURE_RECORD_BYTES 32

/* Where recorded packets are appended: capture-format.ts's payload bytes and index records. */
typedef struct {
  uint8_t *payload;
  uint32_t payload_capacity;
  uint8_t *index;
  uint32_t max_records;
  /* [0] payload octets used, [1] records used: shared with JavaScript, which appends the same way. */
  int32_t *cursor;
  /* Offset in the payload file of payload[0] (index records hold file offsets). */
  double base_offset;
} capture_area;

typedef struct {
  int active;
  int out_fd;
  int family;
  uint16_t port;
  uint8_t address[16];
  /* Payload type that always goes to JavaScript (-1: none). */
  int slow_pt;
  /* The call is recorded: without room in a capture area, packets go to JavaScript. */
  int capture_required;
  int has_area;
  capture_area area;
  /* The party's source is not latched yet: the first datagram relayed is also reported to
   * JavaScript (its source address; symmetric RTP), and this is cleared. */
  int notify_source;
  /* Datagrams and octets this socket received that the fast path handled (since the socket opened). */
  double packets;
  double octets;
} forward_rule;

typedef struct {
  forward_rule *rules; /* indexed by the receiving socket's descriptor */
  int capacity;
  /* rules_by_out[fd] = receiving descriptor + 1 of the rule that sends from fd, 0 for none. */
  int *rule_by_out;
} forward_table;

/* The rule for fd, grown on demand; NULL when out of memory. */
forward_rule *fast_path_slot(forward_table *t, int fd);

/* The active rule of fd, or NULL (hot path). */
static inline forward_rule *fast_path_rule(const forward_table *t, int fd) {
  if (fd < 0 || fd >= t->capacity) return NULL;
  forward_rule *r = &t->rules[fd];
  return r->active ? r : NULL;
}

/* Installs (or replaces) the rule of in_fd; a rule sending from out_fd elsewhere is ended. */
int fast_path_install(forward_table *t, int in_fd, int out_fd, int family, uint16_t port, const void *address, int slow_pt,
                      int capture_required, int notify_source);

/* Ends the rule of fd (counters kept) and drops its capture area. */
void fast_path_remove(forward_table *t, int fd);

/* A descriptor was closed (or opened anew): its rule, any rule sending from it, and its counters go. */
void fast_path_forget(forward_table *t, int fd);

/* Relays (and captures) one datagram under `rule`; 1 if done, 0 if it must go to JavaScript. */
int fast_path_forward(forward_rule *rule, const uint8_t *packet, uint32_t length, send_queue *q, double arrival_ms);

void fast_path_free(forward_table *t);

#endif
