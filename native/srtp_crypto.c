/*
 * SRTP per-packet crypto on OpenSSL (RFC 3711 AES-CM + HMAC-SHA1, RFC 7714
 * AES-128-GCM), one N-API call per packet.
 *
 * The JavaScript implementation in lib/media/srtp/ stays the reference and
 * the fallback; this module does the same transforms with Node's own
 * OpenSSL (Node's binary exports libcrypto's symbols and ships its headers,
 * so nothing is linked here). Per packet in JavaScript the AES keystream
 * buffer that cipher.update returns, SHA-1 in JavaScript and the XOR loop
 * were the cost; here a packet costs one call, no allocation on either side.
 *
 * Sessions: one per session key set (RFC 3711 §4.3), made once:
 *   cm   EVP aes-128-ctr context (key schedule once; a new IV per packet
 *        re-initialises the counter only) and the HMAC-SHA1 inner and outer
 *        SHA-1 states after the K XOR ipad / K XOR opad blocks (RFC 2104);
 *        a packet copies the two 96-octet states instead of hashing the
 *        pads again.
 *   gcm  EVP aes-128-gcm context (key schedule and H once; a new IV per
 *        packet) and a scratch area, because open must not change the
 *        packet when the tag is wrong (the caller may retry it with a
 *        previous key): it decrypts into the scratch and copies back only
 *        after EVP_DecryptFinal_ex accepted the tag.
 *
 * HMAC: measured on this code's target (Node 20, OpenSSL 3.0, SHA-NI), 176
 * octets + 4-octet ROC: SHA1_Update/SHA1_Final on copied states 189 ns,
 * HMAC_CTX_copy per packet 391 ns, EVP_MAC_init(NULL key) per packet 378 ns
 * (both re-create provider contexts, with malloc). The SHA1_* functions are
 * deprecated in OpenSSL 3 but exported by Node; if a Node build lacks them
 * this module fails to load and JavaScript takes over.
 *
 * Parameters: a packet's offsets and IV words do not travel as N-API
 * arguments (a conversion call each) but through an Int32Array the session
 * was created with (JavaScript writes, then calls). Layout: enum param.
 * Every offset is checked against the buffers' lengths before any access;
 * a bad one throws RangeError and touches nothing.
 *
 * Exports:
 *   cmCreate(encKey, authKey, params: ArrayBuffer) -> session
 *   cmProtect(session, src, dst)      dst[0..COPY) = src[0..COPY) (if distinct),
 *                                     dst[ENC_START..ENC_END) = src[..] XOR AES-CM keystream(IV),
 *                                     then if TAG_LEN > 0: dst[TAG_AT..+TAG_LEN) =
 *                                     HMAC(dst[0..AUTH_END) || TRAILER if HAS_TRAILER)
 *   cmUnprotect(session, buf) -> bool verifies the tag at buf[TAG_AT..] (constant time)
 *                                     and only then XORs buf[ENC_START..ENC_END) in place
 *   gcmCreate(key, params: ArrayBuffer) -> session
 *   gcmSeal(session, src, dst, aad)   dst[0..COPY) = src[0..COPY) (if distinct), dst[ENC..] =
 *                                     GCM-encrypt(src[ENC..]), AAD aad[AAD_START..AAD_END),
 *                                     16-octet tag at dst[TAG_AT..]
 *   gcmOpen(session, buf, aad) -> bool  decrypts buf[ENC_START..ENC_END) in place if the
 *                                     tag at buf[TAG_AT..] verifies, else leaves buf as it was
 *   constants: the param indices, PARAM_BYTES
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum param {
  P_ENC_START = 0,   /* first octet to encrypt/decrypt */
  P_ENC_END = 1,     /* one past the last (== ENC_START: nothing, e.g. SRTCP with E=0) */
  P_COPY = 2,        /* protect/seal: octets copied from src to dst first (the clear header) */
  P_AUTH_END = 3,    /* cm: the authenticated portion is [0..AUTH_END) */
  P_HAS_TRAILER = 4, /* cm: nonzero appends TRAILER (32 bits, big-endian) to M: the SRTP ROC (RFC 3711 §4.2) */
  P_TRAILER = 5,
  P_TAG_AT = 6,      /* tag offset in dst (protect/seal) or buf (unprotect/open) */
  P_TAG_LEN = 7,     /* cm: 0 (no auth) .. 20; gcm: always 16 */
  P_AAD_START = 8,   /* gcm: AAD is aad[AAD_START..AAD_END) */
  P_AAD_END = 9,
  P_IV0 = 10,        /* IV, big-endian words: cm 4 (the CTR initial counter), gcm 3 (96 bits) */
  P_IV1 = 11,
  P_IV2 = 12,
  P_IV3 = 13,
  P_COUNT = 16
};

#define GCM_TAG 16
/* RFC 3711 §4.1.1: a keystream segment is at most 2^16 blocks. */
#define MAX_KEYSTREAM (65536 * 16)

/* First field of both session types: an external of the other type (or anyone's) is refused. */
#define CM_MAGIC 0x53524331u  /* "SRC1" */
#define GCM_MAGIC 0x53524732u /* "SRG2" */

typedef struct {
  uint32_t magic;
  EVP_CIPHER_CTX *ctr;
  SHA_CTX inner;
  SHA_CTX outer;
  int32_t *params;
  napi_ref params_ref;
} cm_session;

typedef struct {
  uint32_t magic;
  EVP_CIPHER_CTX *gcm;
  uint8_t *scratch;
  size_t scratch_len;
  int32_t *params;
  napi_ref params_ref;
} gcm_session;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) return throw_error(env, "N-API call failed");   \
  } while (0)

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static void put_be32(uint8_t *p, uint32_t w) {
  p[0] = (uint8_t)(w >> 24);
  p[1] = (uint8_t)(w >> 16);
  p[2] = (uint8_t)(w >> 8);
  p[3] = (uint8_t)w;
}

/* The bytes of a Buffer/Uint8Array (any ArrayBufferView). */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  void *p = NULL;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return 0;
  *data = p;
  return 1;
}

static const EVP_CIPHER *ctr_cipher(size_t key_len) {
  switch (key_len) {
    case 16: return EVP_aes_128_ctr();
    case 24: return EVP_aes_192_ctr();
    case 32: return EVP_aes_256_ctr();
    default: return NULL;
  }
}

static const EVP_CIPHER *gcm_cipher(size_t key_len) {
  switch (key_len) {
    case 16: return EVP_aes_128_gcm();
    case 24: return EVP_aes_192_gcm();
    case 32: return EVP_aes_256_gcm();
    default: return NULL;
  }
}

/*
 * The params ArrayBuffer: its backing store is off the V8 heap and does not
 * move; the reference keeps it alive as long as the session. It must not be
 * transferred or detached (the JavaScript side keeps it private).
 */
static int bind_params(napi_env env, napi_value ab, int32_t **params, napi_ref *ref) {
  bool is_ab = false;
  void *data = NULL;
  size_t len = 0;
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || !is_ab) return 0;
  if (napi_get_arraybuffer_info(env, ab, &data, &len) != napi_ok || len < P_COUNT * 4) return 0;
  if (napi_create_reference(env, ab, 1, ref) != napi_ok) return 0;
  *params = data;
  return 1;
}

static void cm_finalize(napi_env env, void *data, void *hint) {
  cm_session *s = data;
  s->magic = 0;
  EVP_CIPHER_CTX_free(s->ctr);
  OPENSSL_cleanse(&s->inner, sizeof s->inner);
  OPENSSL_cleanse(&s->outer, sizeof s->outer);
  napi_delete_reference(env, s->params_ref);
  free(s);
}

static void gcm_finalize(napi_env env, void *data, void *hint) {
  gcm_session *s = data;
  s->magic = 0;
  EVP_CIPHER_CTX_free(s->gcm);
  if (s->scratch != NULL) OPENSSL_cleanse(s->scratch, s->scratch_len);
  free(s->scratch);
  napi_delete_reference(env, s->params_ref);
  free(s);
}

/* cmCreate(encKey, authKey, params) */
static napi_value cm_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *enc_key, *auth_key;
  size_t enc_len, auth_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || !get_bytes(env, argv[0], &enc_key, &enc_len) || !get_bytes(env, argv[1], &auth_key, &auth_len))
    return throw_error(env, "cmCreate(encKey, authKey, params)");
  const EVP_CIPHER *cipher = ctr_cipher(enc_len);
  if (cipher == NULL) return throw_range(env, "AES key must be 16, 24 or 32 octets");

  cm_session *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_error(env, "out of memory");
  s->magic = CM_MAGIC;
  if (!bind_params(env, argv[2], &s->params, &s->params_ref)) {
    free(s);
    return throw_error(env, "params must be an ArrayBuffer of PARAM_BYTES octets");
  }
  uint8_t zero_iv[16] = {0};
  s->ctr = EVP_CIPHER_CTX_new();
  if (s->ctr == NULL || EVP_EncryptInit_ex(s->ctr, cipher, NULL, enc_key, zero_iv) != 1) {
    EVP_CIPHER_CTX_free(s->ctr);
    napi_delete_reference(env, s->params_ref);
    free(s);
    return throw_error(env, "EVP AES-CTR init failed");
  }

  /* RFC 2104: keys longer than the 64-octet block are hashed first. */
  uint8_t key[SHA_DIGEST_LENGTH];
  const uint8_t *k = auth_key;
  size_t klen = auth_len;
  if (klen > 64) {
    SHA1(auth_key, auth_len, key);
    k = key;
    klen = SHA_DIGEST_LENGTH;
  }
  uint8_t pad[64];
  memset(pad, 0x36, sizeof pad);
  for (size_t i = 0; i < klen; i++) pad[i] ^= k[i];
  SHA1_Init(&s->inner);
  SHA1_Update(&s->inner, pad, sizeof pad);
  memset(pad, 0x5c, sizeof pad);
  for (size_t i = 0; i < klen; i++) pad[i] ^= k[i];
  SHA1_Init(&s->outer);
  SHA1_Update(&s->outer, pad, sizeof pad);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(key, sizeof key);

  napi_value external;
  if (napi_create_external(env, s, cm_finalize, NULL, &external) != napi_ok) {
    cm_finalize(env, s, NULL);
    return throw_error(env, "napi_create_external failed");
  }
  return external;
}

/* [start, end) inside a buffer of len octets. */
static int in_range(int64_t start, int64_t end, size_t len) {
  return start >= 0 && end >= start && (uint64_t)end <= (uint64_t)len;
}

/* The offsets of a cm call, checked against the buffer(s); 0 when any is out of range. */
static int cm_params_ok(const int32_t *p, size_t src_len, size_t dst_len, int protect) {
  int32_t tag_len = p[P_TAG_LEN];
  if (!in_range(p[P_ENC_START], p[P_ENC_END], src_len) || !in_range(p[P_ENC_START], p[P_ENC_END], dst_len)) return 0;
  if (p[P_ENC_END] - p[P_ENC_START] > MAX_KEYSTREAM) return 0;
  if (protect && !(in_range(0, p[P_COPY], src_len) && in_range(0, p[P_COPY], dst_len))) return 0;
  if (tag_len < 0 || tag_len > SHA_DIGEST_LENGTH) return 0;
  if (tag_len > 0) {
    if (!in_range(0, p[P_AUTH_END], dst_len)) return 0;
    if (p[P_TAG_AT] < 0 || !in_range(p[P_TAG_AT], (int64_t)p[P_TAG_AT] + tag_len, dst_len)) return 0;
  }
  return 1;
}

/* RFC 3711 §4.1.1: keystream from the counter IV, XORed from src to dst (same offsets; in place allowed). */
static int cm_xor(cm_session *s, const uint8_t *src, uint8_t *dst) {
  const int32_t *p = s->params;
  int n = p[P_ENC_END] - p[P_ENC_START];
  if (n <= 0) return 1;
  uint8_t iv[16];
  put_be32(iv, (uint32_t)p[P_IV0]);
  put_be32(iv + 4, (uint32_t)p[P_IV1]);
  put_be32(iv + 8, (uint32_t)p[P_IV2]);
  put_be32(iv + 12, (uint32_t)p[P_IV3]);
  int out_len = 0;
  /* A new IV on the same context: the key schedule is kept, the counter and its partial block reset. */
  if (EVP_EncryptInit_ex(s->ctr, NULL, NULL, NULL, iv) != 1) return 0;
  return EVP_EncryptUpdate(s->ctr, dst + p[P_ENC_START], &out_len, src + p[P_ENC_START], n) == 1 && out_len == n;
}

/* HMAC-SHA1(data[0..AUTH_END) || trailer?) into mac (RFC 2104 with the pad states precomputed). */
static void cm_mac(cm_session *s, const uint8_t *data, uint8_t mac[SHA_DIGEST_LENGTH]) {
  const int32_t *p = s->params;
  SHA_CTX c = s->inner;
  SHA1_Update(&c, data, (size_t)p[P_AUTH_END]);
  if (p[P_HAS_TRAILER] != 0) {
    uint8_t t[4];
    put_be32(t, (uint32_t)p[P_TRAILER]);
    SHA1_Update(&c, t, 4);
  }
  SHA1_Final(mac, &c);
  c = s->outer;
  SHA1_Update(&c, mac, SHA_DIGEST_LENGTH);
  SHA1_Final(mac, &c);
  OPENSSL_cleanse(&c, sizeof c);
}

/* The session behind an external made by create with this magic, else NULL. */
static void *get_session(napi_env env, napi_value v, uint32_t magic) {
  void *p = NULL;
  /* napi_invalid_arg for anything but an external. */
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) return NULL;
  return *(uint32_t *)p == magic ? p : NULL;
}

static cm_session *get_cm(napi_env env, napi_value v) {
  return get_session(env, v, CM_MAGIC);
}

/* cmProtect(session, src, dst) */
static napi_value cm_protect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *src, *dst;
  size_t src_len, dst_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cm_session *s = argc < 3 ? NULL : get_cm(env, argv[0]);
  if (s == NULL || !get_bytes(env, argv[1], &src, &src_len) || !get_bytes(env, argv[2], &dst, &dst_len))
    return throw_error(env, "cmProtect(session, src, dst)");
  const int32_t *p = s->params;
  if (!cm_params_ok(p, src_len, dst_len, 1)) return throw_range(env, "cmProtect: offsets out of range");
  if (src != dst && p[P_COPY] > 0) memmove(dst, src, (size_t)p[P_COPY]);
  if (!cm_xor(s, src, dst)) return throw_error(env, "EVP AES-CTR failed");
  if (p[P_TAG_LEN] > 0) {
    uint8_t mac[SHA_DIGEST_LENGTH];
    cm_mac(s, dst, mac);
    memcpy(dst + p[P_TAG_AT], mac, (size_t)p[P_TAG_LEN]);
  }
  return NULL;
}

/* cmUnprotect(session, buf) -> boolean */
static napi_value cm_unprotect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *buf;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cm_session *s = argc < 2 ? NULL : get_cm(env, argv[0]);
  if (s == NULL || !get_bytes(env, argv[1], &buf, &len)) return throw_error(env, "cmUnprotect(session, buf)");
  const int32_t *p = s->params;
  if (!cm_params_ok(p, len, len, 0)) return throw_range(env, "cmUnprotect: offsets out of range");
  int ok = 1;
  if (p[P_TAG_LEN] > 0) {
    uint8_t mac[SHA_DIGEST_LENGTH];
    cm_mac(s, buf, mac);
    /* RFC 3711 §3.3 step 5: authenticate first; compare in time independent of the contents. */
    ok = CRYPTO_memcmp(mac, buf + p[P_TAG_AT], (size_t)p[P_TAG_LEN]) == 0;
  }
  if (ok && !cm_xor(s, buf, buf)) return throw_error(env, "EVP AES-CTR failed");
  napi_value result;
  CHECK(napi_get_boolean(env, ok, &result));
  return result;
}

/* gcmCreate(key, params) */
static napi_value gcm_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *key;
  size_t key_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_bytes(env, argv[0], &key, &key_len)) return throw_error(env, "gcmCreate(key, params)");
  const EVP_CIPHER *cipher = gcm_cipher(key_len);
  if (cipher == NULL) return throw_range(env, "AES key must be 16, 24 or 32 octets");
  gcm_session *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_error(env, "out of memory");
  s->magic = GCM_MAGIC;
  if (!bind_params(env, argv[1], &s->params, &s->params_ref)) {
    free(s);
    return throw_error(env, "params must be an ArrayBuffer of PARAM_BYTES octets");
  }
  uint8_t zero_iv[12] = {0};
  s->gcm = EVP_CIPHER_CTX_new();
  /* The default GCM IV length is 96 bits, RFC 7714 §8.1's. */
  if (s->gcm == NULL || EVP_EncryptInit_ex(s->gcm, cipher, NULL, key, zero_iv) != 1) {
    EVP_CIPHER_CTX_free(s->gcm);
    napi_delete_reference(env, s->params_ref);
    free(s);
    return throw_error(env, "EVP AES-GCM init failed");
  }
  napi_value external;
  if (napi_create_external(env, s, gcm_finalize, NULL, &external) != napi_ok) {
    gcm_finalize(env, s, NULL);
    return throw_error(env, "napi_create_external failed");
  }
  return external;
}

static gcm_session *get_gcm(napi_env env, napi_value v) {
  return get_session(env, v, GCM_MAGIC);
}

static int gcm_params_ok(const int32_t *p, size_t src_len, size_t dst_len, size_t aad_len, int seal) {
  if (!in_range(p[P_ENC_START], p[P_ENC_END], src_len) || !in_range(p[P_ENC_START], p[P_ENC_END], dst_len)) return 0;
  if (!in_range(p[P_AAD_START], p[P_AAD_END], aad_len)) return 0;
  if (seal && !(in_range(0, p[P_COPY], src_len) && in_range(0, p[P_COPY], dst_len))) return 0;
  if (p[P_TAG_AT] < 0 || !in_range(p[P_TAG_AT], (int64_t)p[P_TAG_AT] + GCM_TAG, dst_len)) return 0;
  return 1;
}

static void gcm_iv(const int32_t *p, uint8_t iv[12]) {
  put_be32(iv, (uint32_t)p[P_IV0]);
  put_be32(iv + 4, (uint32_t)p[P_IV1]);
  put_be32(iv + 8, (uint32_t)p[P_IV2]);
}

/* gcmSeal(session, src, dst, aad) */
static napi_value gcm_seal(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint8_t *src, *dst, *aad;
  size_t src_len, dst_len, aad_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gcm_session *s = argc < 4 ? NULL : get_gcm(env, argv[0]);
  if (s == NULL || !get_bytes(env, argv[1], &src, &src_len) || !get_bytes(env, argv[2], &dst, &dst_len)
      || !get_bytes(env, argv[3], &aad, &aad_len))
    return throw_error(env, "gcmSeal(session, src, dst, aad)");
  const int32_t *p = s->params;
  if (!gcm_params_ok(p, src_len, dst_len, aad_len, 1)) return throw_range(env, "gcmSeal: offsets out of range");
  /* The AAD is read before the header is copied: it may be src's or dst's header. */
  uint8_t iv[12];
  int n = 0, ok;
  gcm_iv(p, iv);
  ok = EVP_EncryptInit_ex(s->gcm, NULL, NULL, NULL, iv) == 1
    && EVP_EncryptUpdate(s->gcm, NULL, &n, aad + p[P_AAD_START], p[P_AAD_END] - p[P_AAD_START]) == 1;
  if (ok && src != dst && p[P_COPY] > 0) memmove(dst, src, (size_t)p[P_COPY]);
  int len = p[P_ENC_END] - p[P_ENC_START];
  if (ok && len > 0) ok = EVP_EncryptUpdate(s->gcm, dst + p[P_ENC_START], &n, src + p[P_ENC_START], len) == 1 && n == len;
  uint8_t tail[16];
  ok = ok && EVP_EncryptFinal_ex(s->gcm, tail, &n) == 1
    && EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_GET_TAG, GCM_TAG, dst + p[P_TAG_AT]) == 1;
  if (!ok) return throw_error(env, "EVP AES-GCM seal failed");
  return NULL;
}

/* gcmOpen(session, buf, aad) -> boolean */
static napi_value gcm_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *buf, *aad;
  size_t len, aad_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gcm_session *s = argc < 3 ? NULL : get_gcm(env, argv[0]);
  if (s == NULL || !get_bytes(env, argv[1], &buf, &len) || !get_bytes(env, argv[2], &aad, &aad_len))
    return throw_error(env, "gcmOpen(session, buf, aad)");
  const int32_t *p = s->params;
  if (!gcm_params_ok(p, len, len, aad_len, 0)) return throw_range(env, "gcmOpen: offsets out of range");
  size_t n = (size_t)(p[P_ENC_END] - p[P_ENC_START]);
  if (n > s->scratch_len) {
    /* Grows to the largest packet seen (a datagram is at most 64 KiB); freed with the session. */
    size_t want = n < 2048 ? 2048 : n;
    uint8_t *grown = malloc(want);
    if (grown == NULL) return throw_error(env, "out of memory");
    if (s->scratch != NULL) OPENSSL_cleanse(s->scratch, s->scratch_len);
    free(s->scratch);
    s->scratch = grown;
    s->scratch_len = want;
  }
  uint8_t iv[12];
  int out = 0, ok;
  gcm_iv(p, iv);
  ok = EVP_DecryptInit_ex(s->gcm, NULL, NULL, NULL, iv) == 1
    && EVP_DecryptUpdate(s->gcm, NULL, &out, aad + p[P_AAD_START], p[P_AAD_END] - p[P_AAD_START]) == 1;
  if (ok && n > 0) ok = EVP_DecryptUpdate(s->gcm, s->scratch, &out, buf + p[P_ENC_START], (int)n) == 1 && (size_t)out == n;
  if (!ok) return throw_error(env, "EVP AES-GCM open failed");
  /* SET_TAG copies the expected tag; Final compares it (CRYPTO_memcmp) and fails on a mismatch. */
  uint8_t tail[16];
  ok = EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_SET_TAG, GCM_TAG, buf + p[P_TAG_AT]) == 1
    && EVP_DecryptFinal_ex(s->gcm, tail, &out) == 1;
  if (ok && n > 0) memcpy(buf + p[P_ENC_START], s->scratch, n);
  napi_value result;
  CHECK(napi_get_boolean(env, ok, &result));
  return result;
}

static napi_value module_init(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
    {"cmCreate", cm_create}, {"cmProtect", cm_protect}, {"cmUnprotect", cm_unprotect},
    {"gcmCreate", gcm_create}, {"gcmSeal", gcm_seal}, {"gcmOpen", gcm_open},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok
        || napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  struct {
    const char *name;
    int32_t value;
  } consts[] = {
    {"P_ENC_START", P_ENC_START}, {"P_ENC_END", P_ENC_END}, {"P_COPY", P_COPY},
    {"P_AUTH_END", P_AUTH_END}, {"P_HAS_TRAILER", P_HAS_TRAILER}, {"P_TRAILER", P_TRAILER},
    {"P_TAG_AT", P_TAG_AT}, {"P_TAG_LEN", P_TAG_LEN}, {"P_AAD_START", P_AAD_START},
    {"P_AAD_END", P_AAD_END}, {"P_IV0", P_IV0}, {"P_IV1", P_IV1}, {"P_IV2", P_IV2},
    {"P_IV3", P_IV3}, {"PARAM_BYTES", P_COUNT * 4},
  };
  napi_value constants;
  if (napi_create_object(env, &constants) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_value v;
    if (napi_create_int32(env, consts[i].value, &v) != napi_ok
        || napi_set_named_property(env, constants, consts[i].name, v) != napi_ok)
      return NULL;
  }
  if (napi_set_named_property(env, exports, "constants", constants) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
