#define _GNU_SOURCE
#include "fast_path.h"

#include <stdlib.h>
#include <string.h>


forward_rule *fast_path_slot(forward_table *t, int fd) {
  if (fd < 0) return NULL;
  if (fd >= t->capacity) {
    int capacity = t->capacity == 0 ? 1024 : t->capacity;
    while (capacity <= fd) capacity *= 2;
    forward_rule *rules = realloc(t->rules, (size_t)capacity * sizeof *rules);
    if (rules == NULL) return NULL;
    t->rules = rules;
    int *by_out = realloc(t->rule_by_out, (size_t)capacity * sizeof *by_out);
    if (by_out == NULL) return NULL; /* rules grew, capacity not: the next call retries */
    t->rule_by_out = by_out;
    memset(rules + t->capacity, 0, (size_t)(capacity - t->capacity) * sizeof *rules);
    memset(by_out + t->capacity, 0, (size_t)(capacity - t->capacity) * sizeof *by_out);
    t->capacity = capacity;
  }
  return &t->rules[fd];
}

void fast_path_remove(forward_table *t, int fd) {
  if (fd < 0 || fd >= t->capacity) return;
  forward_rule *r = &t->rules[fd];
  if (r->active && r->out_fd >= 0 && r->out_fd < t->capacity && t->rule_by_out[r->out_fd] == fd + 1) t->rule_by_out[r->out_fd] = 0;
  r->active = 0;
  r->has_area = 0;
}

int fast_path_install(forward_table *t, int in_fd, int out_fd, int family, uint16_t port, const void *address, int slow_pt,
                      int capture_required, int notify_source) {
  int top = in_fd > out_fd ? in_fd : out_fd;
  if (out_fd < 0 || fast_path_slot(t, top) == NULL) return -1;
  fast_path_remove(t, in_fd);
  int other = t->rule_by_out[out_fd] - 1;
  if (other >= 0) fast_path_remove(t, other); /* one rule sends from a socket: the relay pairs sockets 1:1 */
  forward_rule *r = &t->rules[in_fd];
  r->out_fd = out_fd;
  r->family = family;
  r->port = port;
  memset(r->address, 0, sizeof r->address);
  memcpy(r->address, address, family == 6 ? 16 : 4);
  r->slow_pt = slow_pt;
  r->capture_required = capture_required;
  r->notify_source = notify_source;
  r->has_area = 0;
  r->active = 1;
  t->rule_by_out[out_fd] = in_fd + 1;
  return 0;
}

void fast_path_forget(forward_table *t, int fd) {
  if (fd < 0 || fd >= t->capacity) return;
  fast_path_remove(t, fd);
  int other = t->rule_by_out[fd] - 1;
  if (other >= 0) fast_path_remove(t, other);
  t->rules[fd].packets = 0;
  t->rules[fd].octets = 0;
}

static inline void put_le16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v) {
  put_le16(p, v & 0xffff);
  put_le16(p + 2, v >> 16);
}

static inline void put_le_f64(uint8_t *p, double d) {
  uint64_t v;
  memcpy(&v, &d, sizeof v);
  put_le32(p, (uint32_t)v);
  put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * Payload bounds of an RTP version 2 packet (RFC 3550 §5.1: CSRC list, header extension, padding),
 * as rtp-header.ts computes them; 0 when the datagram is not such a packet, or looks like RTCP
 * (RFC 5761 §4: packet types 192-223 share the second octet with marker + PT 64-95).
 */
static inline int rtp_payload(const uint8_t *p, uint32_t length, uint32_t *start, uint32_t *end) {
  if (length < 12 || (p[0] & 0xc0) != 0x80 || (p[1] >= 192 && p[1] <= 223)) return 0;
  uint32_t offset = 12 + (uint32_t)(p[0] & 0x0f) * 4;
  if (p[0] & 0x10) {
    if (offset + 4 > length) return 0;
    offset += 4 + (((uint32_t)p[offset + 2] << 8) | p[offset + 3]) * 4;
  }
  if (offset > length) return 0;
  uint32_t stop = length;
  if (p[0] & 0x20) {
    uint32_t pad = p[length - 1];
    if (pad == 0 || length - pad < offset) return 0;
    stop = length - pad;
  }
  *start = offset;
  *end = stop;
  return 1;
}

int fast_path_forward(forward_rule *rule, const uint8_t *packet, uint32_t length, send_queue *q, double arrival_ms) {
  uint32_t start, end;
  if (!rtp_payload(packet, length, &start, &end)) return 0;
  if ((int)(packet[1] & 0x7f) == rule->slow_pt) return 0;
  if (rule->capture_required) {
    if (!rule->has_area) return 0;
    capture_area *a = &rule->area;
    int32_t used = a->cursor[0], records = a->cursor[1];
    uint32_t size = end - start;
    /* As the JavaScript writer: room for the whole packet, so both append alike. */
    if (used < 0 || records < 0 || (uint32_t)records >= a->max_records || (uint32_t)used + length > a->payload_capacity) return 0;
    if (send_queue_append(q, rule->out_fd, packet, length, rule->family, rule->port, rule->address) != 0) return 0;
    memcpy(a->payload + used, packet + start, size);
    uint8_t *r = a->index + (size_t)records * CAPTURE_RECORD_BYTES;
    put_le_f64(r, arrival_ms);
    put_le_f64(r + 8, a->base_offset + used);
    put_le32(r + 16, ((uint32_t)packet[4] << 24) | ((uint32_t)packet[5] << 16) | ((uint32_t)packet[6] << 8) | packet[7]);
    put_le32(r + 20, ((uint32_t)packet[8] << 24) | ((uint32_t)packet[9] << 16) | ((uint32_t)packet[10] << 8) | packet[11]);
    put_le16(r + 24, ((uint32_t)packet[2] << 8) | packet[3]);
    r[26] = packet[1]; /* marker and payload type as on the wire */
    r[27] = 0;         /* flags: telephone-events never take this path */
    put_le16(r + 28, size);
    put_le16(r + 30, 0);
    /* The record count last, with release order: a reader of the area on another thread (the
     * spool's watcher, with the engine's reading thread on) never counts a record before its bytes. */
    __atomic_store_n(&a->cursor[0], used + (int32_t)size, __ATOMIC_RELAXED);
    __atomic_store_n(&a->cursor[1], records + 1, __ATOMIC_RELEASE);
  } else if (send_queue_append(q, rule->out_fd, packet, length, rule->family, rule->port, rule->address) != 0) {
    return 0;
  }
  rule->packets += 1;
  rule->octets += length;
  return 1;
}

void fast_path_free(forward_table *t) {
  free(t->rules);
  free(t->rule_by_out);
  t->rules = NULL;
  t->rule_by_out = NULL;
  t->capacity = 0;
}
