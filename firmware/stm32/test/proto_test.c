/* Host unit test of src/proto.c against every line of firmware/protocol/testdata/vectors.txt, the
 * vectors the Go codec, the emulator and the gateway are tested against. Usage:
 *   proto_test PATH/TO/vectors.txt
 * Prints one line per failure and a summary; exits 0 only if every vector passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/proto.h"

static int failures;

#define FAIL(v, ...) do { fprintf(stderr, "vectors.txt:%d %s: ", (v)->line, (v)->name); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } while (0)

struct vector {
    int line;
    char name[64];
    char expect[256];
    uint8_t wire[2048];
    size_t wire_len;
    char *keys[32];
    char *vals[32];
    int nfields;
};

static int unhex(const char *s, uint8_t *out, size_t max, size_t *n)
{
    size_t len = strlen(s);
    if (strcmp(s, "-") == 0) { *n = 0; return 0; }
    if (len % 2 || len / 2 > max) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1) return -1;
        out[i] = (uint8_t)b;
    }
    *n = len / 2;
    return 0;
}

static const char *field(const struct vector *v, const char *key)
{
    for (int i = 0; i < v->nfields; i++)
        if (strcmp(v->keys[i], key) == 0) return v->vals[i];
    return NULL;
}

static int num(const struct vector *v, const char *key, long long *out)
{
    const char *s = field(v, key);
    if (!s) { FAIL(v, "missing field %s", key); return -1; }
    char *end;
    *out = strtoll(s, &end, 0);
    if (*end) { FAIL(v, "field %s=%s is not a number", key, s); return -1; }
    return 0;
}

static void hexstr(const uint8_t *p, size_t n, char *out)
{
    if (n == 0) { strcpy(out, "-"); return; }
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void expect_field(const struct vector *v, const char *key, const char *got)
{
    const char *want = field(v, key);
    if (!want) FAIL(v, "missing field %s", key);
    else if (strcmp(want, got) != 0) FAIL(v, "field %s: decoded %s, vector says %s", key, got, want);
}

/* check_boot_stats checks BOOT_STATS response data against the firmware's boot history: a history
 * holding the boot the data names, with its reset cause and telemetry count, must answer exactly
 * these bytes (PROTOCOL.md §3.3: boot u32, reset_cause u8, telemetry_sent u32). */
static void check_boot_stats(const struct vector *v, const uint8_t *data, size_t n)
{
    if (n != PROTO_BOOT_STATS_LEN) { FAIL(v, "BOOT_STATS data of %zu bytes, want %u", n, PROTO_BOOT_STATS_LEN); return; }
    uint32_t boot = proto_get_u32(data);
    struct proto_boot_history h;
    proto_history_clear(&h);
    proto_history_start(&h, boot - 1, PROTO_RESET_POWER_ON);
    proto_history_sent(&h, 1);
    proto_history_start(&h, boot, data[4]);
    proto_history_sent(&h, proto_get_u32(data + 5));
    proto_history_start(&h, boot + 1, PROTO_RESET_SOFTWARE);
    uint8_t got[PROTO_BOOT_STATS_LEN];
    if (!proto_history_lookup(&h, boot, got) || memcmp(got, data, sizeof got) != 0)
        FAIL(v, "the boot history does not answer this BOOT_STATS data");
}

/* command_check_test pins proto_command_check to the table of PROTOCOL.md §3.3 on cases the
 * vectors do not spell out (every op and fault code; cproto compares it with Go exhaustively). */
static void command_check_test(void)
{
    static const struct { uint8_t body[12]; size_t len; uint8_t want; } cases[] = {
        {{0x01}, 1, PROTO_STATUS_OK}, {{0x01, 0}, 2, PROTO_STATUS_BAD_ARGS},
        {{0x03, 0x14, 0}, 3, PROTO_STATUS_OK}, {{0x03, 0x14}, 2, PROTO_STATUS_BAD_ARGS},
        {{0x06, 1, 0, 0, 0}, 5, PROTO_STATUS_OK}, {{0x07}, 1, PROTO_STATUS_OK},
        {{0x07, 0x14}, 2, PROTO_STATUS_BAD_ARGS}, {{0x05}, 1, PROTO_STATUS_BAD_ARGS},
        {{0x05, 0x03}, 2, PROTO_STATUS_OK}, {{0x05, 0x03, 0}, 3, PROTO_STATUS_BAD_ARGS},
        {{0x05, 0x04, 1, 2, 3, 4}, 6, PROTO_STATUS_OK}, {{0x05, 0x04}, 2, PROTO_STATUS_BAD_ARGS},
        {{0x05, 0x04, 1, 2, 3, 4, 5}, 7, PROTO_STATUS_BAD_ARGS}, {{0x05, 0x05}, 2, PROTO_STATUS_BAD_ARGS},
        {{0x05, 0x80}, 2, PROTO_STATUS_BAD_ARGS}, {{0x09}, 1, PROTO_STATUS_UNKNOWN_OP},
        {{0x08, 7, 0, 0, 0, 59, 0, 0, 0}, 9, PROTO_STATUS_OK}, {{0x08}, 1, PROTO_STATUS_BAD_ARGS},
        {{0x08, 7, 0, 0, 0}, 5, PROTO_STATUS_BAD_ARGS}, {{0x08, 7, 0, 0, 0, 59, 0, 0, 0, 0}, 10, PROTO_STATUS_BAD_ARGS},
        {{0x00, 1, 2}, 3, PROTO_STATUS_UNKNOWN_OP}, {{0xff}, 1, PROTO_STATUS_UNKNOWN_OP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t got = proto_command_check(cases[i].body, cases[i].len);
        if (got != cases[i].want) {
            fprintf(stderr, "command check case %zu (op 0x%02x, %zu bytes): status %u, want %u\n", i,
                    cases[i].body[0], cases[i].len, got, cases[i].want);
            failures++;
        }
    }
}

/* history_test exercises the boot history ring on its own: order, eviction, the validity check. */
static void history_test(void)
{
    struct proto_boot_history h;
    uint8_t d[PROTO_BOOT_STATS_LEN];
    memset(&h, 0xA5, sizeof h); /* random RAM */
    if (proto_history_valid(&h, 0)) { fprintf(stderr, "history: random RAM passes as valid\n"); failures++; }
    proto_history_clear(&h);
    if (proto_history_lookup(&h, 0, d)) { fprintf(stderr, "history: empty ring answers boot 0\n"); failures++; }
    const uint32_t first = 0xFFFFFFF0u; /* the boot counter wraps inside the run */
    const uint32_t boots = 3 * PROTO_BOOT_HISTORY + 1;
    for (uint32_t i = 0; i < boots; i++) {
        uint32_t b = first + i;
        if (i > 0 && !proto_history_valid(&h, b - 1)) { fprintf(stderr, "history: invalid before boot %u\n", (unsigned)b); failures++; }
        proto_history_start(&h, b, (uint8_t)(i % 7));
        proto_history_sent(&h, i * 10);
        proto_history_sent(&h, i * 10 + 3);
    }
    uint32_t last = first + boots - 1;
    if (h.count != PROTO_BOOT_HISTORY || !proto_history_valid(&h, last) || proto_history_valid(&h, last + 1)) {
        fprintf(stderr, "history: count %u, validity wrong after %u boots\n", (unsigned)h.count, (unsigned)boots); failures++;
    }
    for (uint32_t i = 0; i < boots; i++) {
        uint32_t b = first + i;
        int want = i >= boots - PROTO_BOOT_HISTORY;
        if (proto_history_lookup(&h, b, d) != want) {
            fprintf(stderr, "history: boot %u found=%d, want %d\n", (unsigned)b, !want, want); failures++;
            continue;
        }
        if (want && (proto_get_u32(d) != b || d[4] != i % 7 || proto_get_u32(d + 5) != i * 10 + 3)) {
            fprintf(stderr, "history: boot %u data wrong\n", (unsigned)b); failures++;
        }
    }
    h.count = PROTO_BOOT_HISTORY + 1;
    if (proto_history_valid(&h, last)) { fprintf(stderr, "history: count out of range passes\n"); failures++; }
}

/* replay_test exercises the REPLAY ring on its own: empty, partly filled, wrapped many times. */
static void replay_test(void)
{
    static struct proto_replay_ring r;
    memset(&r, 0xA5, sizeof r); /* .bss is zeroed, but the firmware clears it explicitly too */
    proto_replay_clear(&r);
    if (proto_replay_count(&r, 0) != 0) { fprintf(stderr, "replay: empty ring counts frames\n"); failures++; }
    for (uint32_t seq = 0; seq < 5 * PROTO_REPLAY_DEPTH + 3; seq++) {
        uint8_t body[PROTO_TELEMETRY_LEN] = {(uint8_t)seq, (uint8_t)(seq >> 8), 0xEE, 0x0D};
        proto_replay_add(&r, seq, 20u * seq + 7u, body);
        uint32_t held = seq + 1 < PROTO_REPLAY_DEPTH ? seq + 1 : PROTO_REPLAY_DEPTH;
        uint32_t oldest = seq + 1 - held;
        if (r.count != held) { fprintf(stderr, "replay: %u frames held after seq %u, want %u\n", (unsigned)r.count, (unsigned)seq, (unsigned)held); failures++; return; }
        for (uint32_t i = 0; i < held; i++) {
            const struct proto_sent_frame *f = proto_replay_get(&r, i);
            if (f->seq != oldest + i || f->time_ms != 20u * f->seq + 7u || f->body[0] != (uint8_t)f->seq || f->body[2] != 0xEE) {
                fprintf(stderr, "replay: frame %u after seq %u is seq %u\n", (unsigned)i, (unsigned)seq, (unsigned)f->seq); failures++; return;
            }
        }
        /* from at or before the oldest: all; inside: the rest; past the newest: none */
        uint32_t froms[] = {0, oldest, oldest + held / 2, seq, seq + 1, 0xFFFFFFFFu};
        uint32_t wants[] = {held, held, held - held / 2, 1, 0, 0};
        for (unsigned k = 0; k < sizeof froms / sizeof froms[0]; k++) {
            if (proto_replay_count(&r, froms[k]) != wants[k]) {
                fprintf(stderr, "replay: count from %u after seq %u = %u, want %u\n", (unsigned)froms[k], (unsigned)seq,
                        (unsigned)proto_replay_count(&r, froms[k]), (unsigned)wants[k]);
                failures++;
            }
        }
    }
}

/* check_fields compares the last decoded frame with the vector's header and typed fields. */
static void check_fields(const struct vector *v, const struct proto_frame *f, const uint8_t *body)
{
    long long ver, type, boot, seq, t;
    if (num(v, "ver", &ver) || num(v, "type", &type) || num(v, "boot", &boot) ||
        num(v, "seq", &seq) || num(v, "time_ms", &t)) return;
    if (f->version != ver || f->type != type || f->boot != (uint32_t)boot || f->seq != (uint32_t)seq ||
        f->time_ms != (uint32_t)t)
        FAIL(v, "header: decoded ver=%u type=%u boot=%u seq=%u time_ms=%u", f->version, f->type,
             (unsigned)f->boot, (unsigned)f->seq, (unsigned)f->time_ms);
    char got[1024];
    hexstr(body, f->body_len, got);
    expect_field(v, "body", got);
    switch (f->type) {
    case PROTO_HELLO:
        hexstr(body, 12, got); expect_field(v, "uid", got);
        sprintf(got, "%u.%u.%u", body[12], body[13], body[14]); expect_field(v, "fw", got);
        sprintf(got, "%u", body[15]); expect_field(v, "reset_cause", got);
        break;
    case PROTO_TELEMETRY:
        sprintf(got, "%d", (int)(int16_t)proto_get_u16(body)); expect_field(v, "temp_centi_c", got);
        sprintf(got, "%u", (unsigned)proto_get_u16(body + 2)); expect_field(v, "supply_mv", got);
        break;
    case PROTO_COMMAND:
        sprintf(got, "0x%02x", body[0]); expect_field(v, "op", got);
        hexstr(body + 1, f->body_len - 1, got); expect_field(v, "args", got);
        break;
    case PROTO_RESPONSE:
        sprintf(got, "%u", (unsigned)proto_get_u32(body)); expect_field(v, "req_seq", got);
        sprintf(got, "0x%02x", body[4]); expect_field(v, "op", got);
        sprintf(got, "%u", body[5]); expect_field(v, "status", got);
        hexstr(body + 6, f->body_len - 6, got); expect_field(v, "data", got);
        break;
    }
    if (f->type == PROTO_COMMAND && body[0] == PROTO_OP_BOOT_STATS && f->body_len != 1 + 4)
        FAIL(v, "BOOT_STATS command with %zu bytes of args, want 4", f->body_len - 1);
    /* answer=: the status the firmware gives the command for its op and args alone. */
    if (f->type == PROTO_COMMAND && field(v, "answer")) {
        sprintf(got, "%u", proto_command_check(body, f->body_len));
        expect_field(v, "answer", got);
    }
    /* data_error=: the data does not fit the op (the firmware never sends such a RESPONSE). */
    const char *data_error = field(v, "data_error");
    if (f->type == PROTO_RESPONSE && body[5] == PROTO_STATUS_OK) {
        size_t n = f->body_len - 6;
        int fits = 1;
        if (body[4] == PROTO_OP_BOOT_STATS) fits = n == PROTO_BOOT_STATS_LEN;
        if (body[4] == PROTO_OP_GET_INTERVAL) fits = n == PROTO_INTERVAL_LEN;
        if (body[4] == PROTO_OP_REPLAY) fits = n == PROTO_REPLAY_LEN;
        if (fits == (data_error != NULL))
            FAIL(v, "RESPONSE op 0x%02x with %zu bytes of data: fits=%d, vector says data_error=%s", body[4], n, fits, data_error ? data_error : "(none)");
        else if (fits && body[4] == PROTO_OP_BOOT_STATS)
            check_boot_stats(v, body + 6, n);
    }
}

static void run_vector(struct vector *v)
{
    struct proto_rx rx;
    proto_rx_init(&rx);
    char got[256] = "";
    uint8_t last_body[PROTO_MAX_FRAME];
    struct proto_frame last = {0};
    int have_last = 0, outcomes = 0;
    for (size_t i = 0; i < v->wire_len; i++) {
        struct proto_frame f;
        int r = proto_rx_feed(&rx, v->wire[i], &f);
        if (r == PROTO_NONE) continue;
        if (outcomes++) strcat(got, ",");
        if (r == PROTO_FRAME) {
            strcat(got, "ok");
            last = f;
            memcpy(last_body, f.body, f.body_len); /* f.body lives in rx until the next byte */
            have_last = 1;
        } else {
            strcat(got, "err:");
            strcat(got, proto_reason(r));
        }
    }
    if (outcomes == 0) strcpy(got, "none");
    if (strcmp(got, v->expect) != 0) {
        FAIL(v, "outcomes %s, want %s", got, v->expect);
        return;
    }
    if (have_last && v->nfields > 0) check_fields(v, &last, last_body);

    /* A single "ok" frame: encoding its fields must give the wire bytes exactly. */
    const uint8_t *z = memchr(v->wire, 0, v->wire_len);
    if (strcmp(v->expect, "ok") == 0 && z == v->wire + v->wire_len - 1) {
        long long ver, type, boot, seq, t;
        uint8_t body[PROTO_MAX_FRAME], wire[PROTO_MAX_WIRE];
        size_t body_len;
        if (num(v, "ver", &ver) || num(v, "type", &type) || num(v, "boot", &boot) ||
            num(v, "seq", &seq) || num(v, "time_ms", &t)) return;
        if (unhex(field(v, "body"), body, sizeof body, &body_len)) { FAIL(v, "bad body hex"); return; }
        struct proto_frame f = { (uint8_t)ver, (uint8_t)type, (uint32_t)boot, (uint32_t)seq, (uint32_t)t, body, body_len };
        size_t n = proto_encode(&f, 0, wire);
        if (n != v->wire_len || memcmp(wire, v->wire, n) != 0) {
            char a[2 * PROTO_MAX_WIRE + 1];
            hexstr(wire, n, a);
            FAIL(v, "encode of the fields gives %s", a);
        }
        /* And the bad-CRC variant is rejected as crc, nothing else. */
        n = proto_encode(&f, 1, wire);
        struct proto_frame g;
        int r = PROTO_NONE;
        proto_rx_init(&rx);
        for (size_t i = 0; i < n; i++) r = proto_rx_feed(&rx, wire[i], &g);
        if (r != PROTO_ERR_CRC) FAIL(v, "bad-CRC encoding decoded as %s, want crc", proto_reason(r));
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s firmware/protocol/testdata/vectors.txt\n", argv[0]);
        return 2;
    }
    const uint8_t check[] = "123456789";
    if (proto_crc32(0, check, 9) != 0xCBF43926u) {
        fprintf(stderr, "CRC-32 check value: got 0x%08x, want 0xcbf43926\n", (unsigned)proto_crc32(0, check, 9));
        failures++;
    }
    history_test();
    command_check_test();
    replay_test();
    FILE *fp = fopen(argv[1], "r");
    if (!fp) { perror(argv[1]); return 2; }
    static char line[8192];
    int lineno = 0, count = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        static struct vector v;
        memset(&v, 0, sizeof v);
        v.line = lineno;
        char *save, *tok[40];
        int nt = 0;
        for (char *t = strtok_r(line, " ", &save); t && nt < 40; t = strtok_r(NULL, " ", &save)) tok[nt++] = t;
        if (nt < 3) { fprintf(stderr, "vectors.txt:%d: want <name> <expect> <wire-hex> [k=v...]\n", lineno); failures++; continue; }
        snprintf(v.name, sizeof v.name, "%s", tok[0]);
        snprintf(v.expect, sizeof v.expect, "%s", tok[1]);
        if (unhex(tok[2], v.wire, sizeof v.wire, &v.wire_len)) { FAIL(&v, "bad wire hex"); continue; }
        for (int i = 3; i < nt; i++) {
            char *eq = strchr(tok[i], '=');
            if (!eq) { FAIL(&v, "field %s is not key=value", tok[i]); continue; }
            *eq = 0;
            v.keys[v.nfields] = tok[i];
            v.vals[v.nfields++] = eq + 1;
        }
        int before = failures;
        run_vector(&v);
        if (failures == before) count++;
    }
    fclose(fp);
    if (count < 30) {
        fprintf(stderr, "only %d vectors passed; expected the full shared set\n", count);
        failures++;
    }
    printf("proto_test: %d vectors passed, %d failures\n", count, failures);
    return failures ? 1 : 0;
}
