/* Wire protocol v1: see proto.h and firmware/PROTOCOL.md. */
#include "proto.h"

const char *proto_reason(int result)
{
    switch (result) {
    case PROTO_NONE: return "none";
    case PROTO_FRAME: return "ok";
    case PROTO_ERR_COBS: return "cobs";
    case PROTO_ERR_TOO_LONG: return "too_long";
    case PROTO_ERR_TOO_SHORT: return "too_short";
    case PROTO_ERR_CRC: return "crc";
    case PROTO_ERR_VERSION: return "version";
    case PROTO_ERR_TYPE: return "type";
    case PROTO_ERR_BODY_LENGTH: return "body_length";
    }
    return "other";
}

/* Nibble table of the reflected polynomial 0xEDB88320: 64 bytes of flash instead of 1 KiB, and
 * still far faster than a 921600-baud UART. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t proto_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

size_t proto_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t code_at = 0, out = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
            continue;
        }
        dst[out++] = src[i];
        if (++code == 0xFF) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        }
    }
    dst[code_at] = code;
    return out;
}

int proto_cobs_decode(const uint8_t *src, size_t m, uint8_t *dst, size_t *out_len)
{
    size_t i = 0, n = 0;
    while (i < m) {
        size_t c = src[i];
        if (c == 0 || i + c > m)
            return PROTO_ERR_COBS; /* a 0x00 inside, or a block running past the delimiter */
        for (size_t k = i + 1; k < i + c; k++)
            dst[n++] = src[k];
        i += c;
        if (i < m && c != 0xFF)
            dst[n++] = 0;
        else if (i == m && c == 0xFF)
            return PROTO_ERR_COBS; /* non-canonical: the last block must not be 0xFF */
    }
    *out_len = n;
    return PROTO_FRAME;
}

size_t proto_encode(const struct proto_frame *f, int bad_crc, uint8_t *wire)
{
    uint8_t raw[PROTO_MAX_FRAME];
    if (f->body_len > PROTO_MAX_BODY)
        return 0;
    raw[0] = f->version;
    raw[1] = f->type;
    proto_put_u32(raw + 2, f->boot);
    proto_put_u32(raw + 6, f->seq);
    proto_put_u32(raw + 10, f->time_ms);
    for (size_t i = 0; i < f->body_len; i++)
        raw[PROTO_HEADER_LEN + i] = f->body[i];
    size_t n = PROTO_HEADER_LEN + f->body_len;
    uint32_t crc = proto_crc32(0, raw, n);
    if (bad_crc)
        crc = ~crc;
    proto_put_u32(raw + n, crc);
    n += PROTO_CRC_LEN;
    size_t m = proto_cobs_encode(raw, n, wire);
    wire[m++] = 0x00;
    return m;
}

static int body_length_ok(uint8_t type, size_t n)
{
    switch (type) {
    case PROTO_HELLO: return n == PROTO_HELLO_LEN;
    case PROTO_TELEMETRY: return n == PROTO_TELEMETRY_LEN;
    case PROTO_COMMAND: return n >= PROTO_COMMAND_MIN;
    case PROTO_RESPONSE: return n >= PROTO_RESPONSE_MIN;
    }
    return 0;
}

int proto_parse(const uint8_t *raw, size_t n, struct proto_frame *f)
{
    if (n > PROTO_MAX_FRAME)
        return PROTO_ERR_TOO_LONG;
    if (n < PROTO_MIN_FRAME)
        return PROTO_ERR_TOO_SHORT;
    size_t m = n - PROTO_CRC_LEN;
    if (proto_crc32(0, raw, m) != proto_get_u32(raw + m))
        return PROTO_ERR_CRC; /* before version and type: line noise counts as crc */
    if (raw[0] != PROTO_VERSION)
        return PROTO_ERR_VERSION;
    uint8_t t = raw[1];
    if (t != PROTO_HELLO && t != PROTO_TELEMETRY && t != PROTO_COMMAND && t != PROTO_RESPONSE)
        return PROTO_ERR_TYPE;
    if (!body_length_ok(t, m - PROTO_HEADER_LEN))
        return PROTO_ERR_BODY_LENGTH;
    f->version = raw[0];
    f->type = t;
    f->boot = proto_get_u32(raw + 2);
    f->seq = proto_get_u32(raw + 6);
    f->time_ms = proto_get_u32(raw + 10);
    f->body = raw + PROTO_HEADER_LEN;
    f->body_len = m - PROTO_HEADER_LEN;
    return PROTO_FRAME;
}

void proto_rx_init(struct proto_rx *rx)
{
    rx->n = 0;
    rx->discarding = 0;
}

int proto_rx_feed(struct proto_rx *rx, uint8_t byte, struct proto_frame *f)
{
    if (byte == 0x00) {
        if (rx->discarding) {
            rx->discarding = 0; /* the too-long run was reported when it crossed the limit */
            return PROTO_NONE;
        }
        if (rx->n == 0)
            return PROTO_NONE; /* an empty run is not a frame: a sender's flush */
        size_t m = rx->n, n;
        rx->n = 0;
        int r = proto_cobs_decode(rx->buf, m, rx->raw, &n);
        if (r != PROTO_FRAME)
            return r;
        return proto_parse(rx->raw, n, f);
    }
    if (rx->discarding)
        return PROTO_NONE;
    if (rx->n == PROTO_MAX_ENCODED) {
        rx->n = 0;
        rx->discarding = 1;
        return PROTO_ERR_TOO_LONG;
    }
    rx->buf[rx->n++] = byte;
    return PROTO_NONE;
}

uint8_t proto_command_check(const uint8_t *body, size_t len)
{
    if (len < PROTO_COMMAND_MIN)
        return PROTO_STATUS_BAD_ARGS; /* the receiver never passes one: body_length */
    size_t nargs = len - 1;
    switch (body[0]) {
    case PROTO_OP_PING:
    case PROTO_OP_IDENTIFY:
    case PROTO_OP_STATS:
    case PROTO_OP_GET_INTERVAL:
        return nargs == 0 ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
    case PROTO_OP_SET_INTERVAL:
        return nargs == 2 ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
    case PROTO_OP_BOOT_STATS:
        return nargs == 4 ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
    case PROTO_OP_REPLAY:
        return nargs == PROTO_REPLAY_ARGS ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
    case PROTO_OP_FAULT:
        if (nargs == 0)
            return PROTO_STATUS_BAD_ARGS;
        switch (body[1]) {
        case PROTO_FAULT_NONE:
        case PROTO_FAULT_CORRUPT_CRC:
        case PROTO_FAULT_STALL:
        case PROTO_FAULT_RESET:
            return nargs == 1 ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
        case PROTO_FAULT_CLOCK_SKEW:
            return nargs == PROTO_CLOCK_SKEW_ARGS ? PROTO_STATUS_OK : PROTO_STATUS_BAD_ARGS;
        }
        return PROTO_STATUS_BAD_ARGS; /* reserved or firmware-specific code this device lacks */
    }
    return PROTO_STATUS_UNKNOWN_OP;
}

void proto_history_clear(struct proto_boot_history *h)
{
    h->head = 0;
    h->count = 0;
}

int proto_history_valid(const struct proto_boot_history *h, uint32_t last_boot)
{
    if (h->head >= PROTO_BOOT_HISTORY || h->count > PROTO_BOOT_HISTORY)
        return 0;
    for (uint32_t i = 0, k = h->head; i < h->count; i++) {
        if (h->rec[k].boot != last_boot - i || h->rec[k].reset_cause > 0xFFu)
            return 0;
        k = k == 0 ? PROTO_BOOT_HISTORY - 1 : k - 1;
    }
    return 1;
}

void proto_history_start(struct proto_boot_history *h, uint32_t boot, uint8_t reset_cause)
{
    uint32_t k = h->count == 0 ? 0 : (h->head + 1) % PROTO_BOOT_HISTORY;
    h->rec[k].boot = boot;
    h->rec[k].reset_cause = reset_cause;
    h->rec[k].telemetry_sent = 0;
    h->head = k;
    if (h->count < PROTO_BOOT_HISTORY)
        h->count++;
}

void proto_history_sent(struct proto_boot_history *h, uint32_t telemetry_sent)
{
    if (h->count != 0)
        h->rec[h->head].telemetry_sent = telemetry_sent;
}

int proto_history_lookup(const struct proto_boot_history *h, uint32_t boot, uint8_t *data)
{
    for (uint32_t i = 0, k = h->head; i < h->count && i < PROTO_BOOT_HISTORY; i++) {
        const struct proto_boot_record *r = &h->rec[k];
        if (r->boot == boot) {
            proto_put_u32(data, r->boot);
            data[4] = (uint8_t)r->reset_cause;
            proto_put_u32(data + 5, r->telemetry_sent);
            return 1;
        }
        k = k == 0 ? PROTO_BOOT_HISTORY - 1 : k - 1;
    }
    return 0;
}

void proto_replay_clear(struct proto_replay_ring *r)
{
    r->next = 0;
    r->count = 0;
}

void proto_replay_add(struct proto_replay_ring *r, uint32_t seq, uint32_t time_ms, const uint8_t *body)
{
    struct proto_sent_frame *f = &r->frame[r->next];
    f->seq = seq;
    f->time_ms = time_ms;
    for (unsigned i = 0; i < PROTO_TELEMETRY_LEN; i++)
        f->body[i] = body[i];
    r->next = (r->next + 1u) % PROTO_REPLAY_DEPTH;
    if (r->count < PROTO_REPLAY_DEPTH)
        r->count++;
}

const struct proto_sent_frame *proto_replay_get(const struct proto_replay_ring *r, uint32_t i)
{
    return &r->frame[(r->next + PROTO_REPLAY_DEPTH - r->count + i) % PROTO_REPLAY_DEPTH];
}

uint32_t proto_replay_count(const struct proto_replay_ring *r, uint32_t from)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->count; i++)
        if (proto_replay_get(r, i)->seq >= from)
            n++;
    return n;
}
