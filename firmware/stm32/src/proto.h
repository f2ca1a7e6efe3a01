/* Wire protocol v1 (firmware/PROTOCOL.md): COBS framing with a 0x00 delimiter, the 14-byte header,
 * the CRC-32 trailer, frame building and a byte-at-a-time stream receiver with resynchronisation.
 * No hardware, no heap, no libc beyond <stdint.h>/<stddef.h>: the same file builds for the
 * STM32 and for the host, where test/proto_test.c runs it against the shared vectors. */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION     1u
#define PROTO_HEADER_LEN  14u
#define PROTO_CRC_LEN     4u
#define PROTO_MIN_FRAME   (PROTO_HEADER_LEN + PROTO_CRC_LEN)          /* 18 */
#define PROTO_MAX_FRAME   256u
#define PROTO_MAX_BODY    (PROTO_MAX_FRAME - PROTO_MIN_FRAME)         /* 238 */
#define PROTO_MAX_ENCODED (PROTO_MAX_FRAME + 1u + PROTO_MAX_FRAME / 254u) /* 258 */
#define PROTO_MAX_WIRE    (PROTO_MAX_ENCODED + 1u)                    /* plus the delimiter */

/* Frame types. */
#define PROTO_HELLO     0x01u
#define PROTO_TELEMETRY 0x02u
#define PROTO_COMMAND   0x10u
#define PROTO_RESPONSE  0x11u

/* Body sizes. */
#define PROTO_UID_LEN       12u
#define PROTO_HELLO_LEN     16u
#define PROTO_TELEMETRY_LEN 4u
#define PROTO_COMMAND_MIN   1u
#define PROTO_RESPONSE_MIN  6u
#define PROTO_IDENTIFY_LEN  15u
#define PROTO_STATS_LEN     16u
#define PROTO_BOOT_STATS_LEN 9u /* BOOT_STATS data: boot u32, reset_cause u8, telemetry_sent u32 */
#define PROTO_INTERVAL_LEN   2u /* GET_INTERVAL data: interval_ms u16 */
#define PROTO_CLOCK_SKEW_ARGS 5u /* FAULT CLOCK_SKEW args: code u8, skew_ms i32 */
#define PROTO_REPLAY_ARGS    8u /* REPLAY args: boot u32, from_seq u32 */
#define PROTO_REPLAY_LEN     2u /* REPLAY data: count u16 */

/* Command ops, statuses, fault codes. */
#define PROTO_OP_PING         0x01u
#define PROTO_OP_IDENTIFY     0x02u
#define PROTO_OP_SET_INTERVAL 0x03u
#define PROTO_OP_STATS        0x04u
#define PROTO_OP_FAULT        0x05u
#define PROTO_OP_BOOT_STATS   0x06u
#define PROTO_OP_GET_INTERVAL 0x07u /* added to v1: an older device answers status 1 */
#define PROTO_OP_REPLAY       0x08u /* added to v1: an older device answers status 1 */
#define PROTO_STATUS_OK         0u
#define PROTO_STATUS_UNKNOWN_OP 1u
#define PROTO_STATUS_BAD_ARGS   2u
#define PROTO_FAULT_NONE        0x00u
#define PROTO_FAULT_CORRUPT_CRC 0x01u
#define PROTO_FAULT_STALL       0x02u
#define PROTO_FAULT_RESET       0x03u
#define PROTO_FAULT_CLOCK_SKEW  0x04u /* added to v1: an older device answers status 2 */

/* Reset causes (HELLO). */
#define PROTO_RESET_UNKNOWN  0u
#define PROTO_RESET_POWER_ON 1u
#define PROTO_RESET_PIN      2u
#define PROTO_RESET_SOFTWARE 3u
#define PROTO_RESET_WATCHDOG 4u
#define PROTO_RESET_BROWNOUT 5u
#define PROTO_RESET_LOWPOWER 6u

/* Outcomes of the receiver. The error values map to the stable reasons of PROTOCOL.md §2.3. */
enum proto_result {
    PROTO_NONE = 0,       /* nothing to report yet */
    PROTO_FRAME,          /* a valid frame */
    PROTO_ERR_COBS,       /* "cobs" */
    PROTO_ERR_TOO_LONG,   /* "too_long" */
    PROTO_ERR_TOO_SHORT,  /* "too_short" */
    PROTO_ERR_CRC,        /* "crc" */
    PROTO_ERR_VERSION,    /* "version" */
    PROTO_ERR_TYPE,       /* "type" */
    PROTO_ERR_BODY_LENGTH /* "body_length" */
};

/* The stable reason string of a result ("ok" for PROTO_FRAME, "none" for PROTO_NONE). */
const char *proto_reason(int result);

/* A frame. For a decoded frame, body points into the receiver's buffer and is valid until the next
 * byte is fed. */
struct proto_frame {
    uint8_t version;
    uint8_t type;
    uint32_t boot;
    uint32_t seq;
    uint32_t time_ms;
    const uint8_t *body;
    size_t body_len;
};

/* CRC-32/ISO-HDLC (zlib): proto_crc32(0, p, n) computes the CRC of p; pass a previous result as
 * crc to continue over more bytes. */
uint32_t proto_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* COBS-encodes len bytes (len <= PROTO_MAX_FRAME) into dst (room for len + 1 + len/254 bytes),
 * the canonical form whose last block never has code 0xFF; returns the encoded length. No
 * delimiter is appended. */
size_t proto_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);

/* Decodes m encoded bytes (no delimiter) into dst (room for m bytes). Returns PROTO_FRAME and the
 * decoded length in *out_len, or PROTO_ERR_COBS. */
int proto_cobs_decode(const uint8_t *src, size_t m, uint8_t *dst, size_t *out_len);

/* Builds the wire bytes of f into wire (PROTO_MAX_WIRE bytes): COBS(header|body|CRC) then 0x00.
 * bad_crc != 0 inverts the CRC (FAULT CORRUPT_CRC). Returns the wire length, 0 if the body is
 * longer than PROTO_MAX_BODY. Any version and type are encoded as given. */
size_t proto_encode(const struct proto_frame *f, int bad_crc, uint8_t *wire);

/* Checks a decoded frame (header|body|CRC) in the order of §2.3 and fills f. Returns PROTO_FRAME
 * or the error. */
int proto_parse(const uint8_t *raw, size_t n, struct proto_frame *f);

/* The stream receiver of §1.3. Zero it (or call proto_rx_init) before use. */
struct proto_rx {
    uint8_t buf[PROTO_MAX_ENCODED];
    uint8_t raw[PROTO_MAX_ENCODED];
    size_t n;
    int discarding;
};

void proto_rx_init(struct proto_rx *rx);

/* Feeds one byte. Returns PROTO_NONE, PROTO_FRAME (f filled, body valid until the next call), or
 * an error result for one bad frame. */
int proto_rx_feed(struct proto_rx *rx, uint8_t byte, struct proto_frame *f);

/* The status a device implementing every op and fault code of v1 answers for the command alone
 * (PROTOCOL.md §3.3): PROTO_STATUS_UNKNOWN_OP for an op v1 does not define; PROTO_STATUS_BAD_ARGS
 * for args of the wrong length for the op (for FAULT: for its code; CLOCK_SKEW takes 4 bytes after
 * the code, the others none) or a fault code v1 does not define; else PROTO_STATUS_OK. The device
 * may still refuse a value it does not hold (BOOT_STATS of a forgotten boot). body is the COMMAND
 * body (op, args) of len >= PROTO_COMMAND_MIN bytes. The Go codec's Command.Check agrees. */
uint8_t proto_command_check(const uint8_t *body, size_t len);

/* Boot history for BOOT_STATS (PROTOCOL.md §3.3): what the device sent during each of its most
 * recent boots, the current one included. A ring of PROTO_BOOT_HISTORY records, newest at head;
 * every field is a whole 32-bit word so that each store is atomic with respect to a reset. The
 * firmware keeps it in the noinit block (board.h) next to the boot counter, so it survives a reset
 * and, in the backup domain, a power cut; the record of boot b holds b's reset cause and TELEMETRY frames sent (the
 * seq its next frame would have carried). Older boots are forgotten: BOOT_STATS answers status 2. */
#define PROTO_BOOT_HISTORY 16u

struct proto_boot_record {
    uint32_t boot;
    uint32_t reset_cause;    /* PROTO_RESET_* (u8 on the wire) */
    uint32_t telemetry_sent; /* TELEMETRY frames sent during that boot */
};

struct proto_boot_history {
    uint32_t head;  /* index of the newest record (the current boot); < PROTO_BOOT_HISTORY */
    uint32_t count; /* valid records, 0..PROTO_BOOT_HISTORY */
    struct proto_boot_record rec[PROTO_BOOT_HISTORY];
};

/* Forgets every boot. */
void proto_history_clear(struct proto_boot_history *h);

/* Checks a history kept across a reset: head and count in range and the records the consecutive
 * boots ending at last_boot, newest first (each boot adds exactly one record). Returns 1 if it
 * holds; 0 means it is not one this firmware wrote (clear it). */
int proto_history_valid(const struct proto_boot_history *h, uint32_t last_boot);

/* Records the start of a boot (telemetry_sent 0), evicting the oldest record when the ring is full.
 * The slot is written before head and count move, so a reset in between loses nothing valid. */
void proto_history_start(struct proto_boot_history *h, uint32_t boot, uint8_t reset_cause);

/* Sets the current boot's telemetry_sent (one word store; call after every TELEMETRY frame). */
void proto_history_sent(struct proto_boot_history *h, uint32_t telemetry_sent);

/* Looks up boot, the newest record of it first, and writes its BOOT_STATS data into
 * data[PROTO_BOOT_STATS_LEN]. Returns 1, or 0 for a boot the history does not hold (status 2). */
int proto_history_lookup(const struct proto_boot_history *h, uint32_t boot, uint8_t *data);

/* The frames REPLAY sends again (PROTOCOL.md §3.3): the last PROTO_REPLAY_DEPTH TELEMETRY frames
 * of the current boot, as first sent (seq, device_time_ms, body). The firmware keeps it in ordinary
 * RAM (.bss): a boot starts with none, and a reset or a power cut loses them, as the protocol says.
 * 12 bytes a frame: 768 bytes of the 128 KiB. */
#define PROTO_REPLAY_DEPTH 64u

struct proto_sent_frame {
    uint32_t seq;
    uint32_t time_ms;
    uint8_t body[PROTO_TELEMETRY_LEN];
};

struct proto_replay_ring {
    uint32_t next;  /* slot of the next frame; < PROTO_REPLAY_DEPTH */
    uint32_t count; /* frames held, 0..PROTO_REPLAY_DEPTH */
    struct proto_sent_frame frame[PROTO_REPLAY_DEPTH];
};

/* Forgets every frame (a new boot). */
void proto_replay_clear(struct proto_replay_ring *r);

/* Keeps one TELEMETRY frame as sent (body of PROTO_TELEMETRY_LEN bytes), evicting the oldest when
 * the ring is full. Call for every frame that consumes a seq, a corrupted one included. */
void proto_replay_add(struct proto_replay_ring *r, uint32_t seq, uint32_t time_ms, const uint8_t *body);

/* The i-th frame held, oldest first; i < r->count. */
const struct proto_sent_frame *proto_replay_get(const struct proto_replay_ring *r, uint32_t i);

/* How many frames held have seq >= from (plain unsigned comparison): REPLAY's count. */
uint32_t proto_replay_count(const struct proto_replay_ring *r, uint32_t from);

/* Little-endian helpers. */
static inline void proto_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void proto_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static inline uint32_t proto_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t proto_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

#endif
