/* The STM32 reference device: protocol v1 (firmware/PROTOCOL.md) over USART1. At boot it sends a
 * lone 0x00 and HELLO, then TELEMETRY every interval; it answers every valid COMMAND with one
 * RESPONSE (PING, IDENTIFY, SET_INTERVAL, STATS, FAULT, BOOT_STATS, GET_INTERVAL, REPLAY) and counts
 * what it received.
 *
 * Boot counter: kept in the noinit block (board.h), which survives a reset (NRST, SYSRESETREQ,
 * QEMU's system_reset) and a power cut: on the board it lives in the battery-backed backup SRAM
 * (kept while VBAT is powered), under QEMU at the top of SRAM, which the rig's power cycle carries
 * over as the battery would. So the next boot carries boot + 1 either way. A block without the
 * magic or with a bad check word (first power-on, a board without a battery on VBAT: the content
 * is random) starts at 0.
 *
 * Boot history (BOOT_STATS): the same block holds a ring of the last PROTO_BOOT_HISTORY boots
 * (proto.h), the current one included: each boot adds its record (boot, reset cause, 0) and every
 * TELEMETRY frame sent stores the boot's new count there, so after a reset or a power cut the
 * device can still say what an earlier boot sent. It is cleared with the counter (bad block) and
 * whenever it does not hold consecutive boots ending at the previous one.
 *
 * Clock skew (FAULT CLOCK_SKEW): the block also holds the step added to device_time_ms, so a
 * mis-set clock stays mis-set across resets and power cuts, as an RTC in the backup domain would.
 *
 * REPLAY: the last PROTO_REPLAY_DEPTH TELEMETRY frames of this boot are kept in ordinary RAM (not
 * the noinit block: they are this boot's, and a reset or power cut rightly loses them) and sent
 * again, as first sent, right after the RESPONSE to a REPLAY of this boot. */
#include "board.h"
#include "proto.h"
#include "stm32f4.h"

#ifndef FW_MAJOR
#define FW_MAJOR 1
#endif
#ifndef FW_MINOR
#define FW_MINOR 0
#endif
#ifndef FW_PATCH
#define FW_PATCH 0
#endif
#ifndef UART_BAUD
#define UART_BAUD 115200u
#endif
#ifndef TELEMETRY_INTERVAL_MS
#define TELEMETRY_INTERVAL_MS 20u /* the emulator's default */
#endif
#define NO_CAUSE 0xFFu

static struct {
    uint8_t uid[PROTO_UID_LEN];
    uint32_t boot;
    uint8_t reset_cause;
    uint32_t seq; /* the seq of the next TELEMETRY frame = TELEMETRY frames sent this boot */
    uint32_t rx_ok, rx_bad;
    uint32_t interval_ms;
    uint32_t next_due;
    int corrupt_next;
    int stalled;
} dev;

static struct proto_rx rx;
static struct proto_replay_ring sent; /* REPLAY: this boot's last TELEMETRY frames, in .bss */
static struct noinit *nv; /* the noinit block: backup SRAM on the board, top of SRAM under QEMU */

/* bootinfo advances the boot counter and settles the reset cause of this boot. */
static void bootinfo(void)
{
    uint8_t hw = board_reset_cause();
    if (nv->magic != NOINIT_MAGIC || nv->check != board_noinit_check(nv)) {
        nv->magic = NOINIT_MAGIC;
        nv->boot = 0;
        nv->fault_pc = 0;
        nv->fault_cfsr = 0;
        nv->clock_skew_ms = 0;
        proto_history_clear(&nv->history);
        dev.reset_cause = hw != PROTO_RESET_UNKNOWN ? hw : PROTO_RESET_POWER_ON;
    } else {
        if (!proto_history_valid(&nv->history, nv->boot))
            proto_history_clear(&nv->history);
        if (nv->skew_check != board_skew_check(nv))
            nv->clock_skew_ms = 0; /* a reset cut CLOCK_SKEW's two stores apart */
        nv->boot++;
        /* The RCC flags say why (under QEMU: the rig's mailbox word after its power-on); else a
         * reset the firmware asked for itself is remembered in the block, and any other reset
         * there is "unknown". */
        if (hw != PROTO_RESET_UNKNOWN)
            dev.reset_cause = hw;
        else if (nv->next_cause != NO_CAUSE)
            dev.reset_cause = (uint8_t)nv->next_cause;
        else
            dev.reset_cause = PROTO_RESET_UNKNOWN;
    }
    nv->skew_check = board_skew_check(nv);
    nv->next_cause = NO_CAUSE;
    nv->check = board_noinit_check(nv);
    dev.boot = nv->boot;
    proto_history_start(&nv->history, dev.boot, dev.reset_cause);
}

/* device_time is device_time_ms: ms since boot, stepped by the clock skew (mod 2^32). */
static uint32_t device_time(void) { return board_millis() + nv->clock_skew_ms; }

/* send_as sends one frame with the given header seq and device_time_ms. */
static void send_as(uint8_t type, uint32_t seq, uint32_t time_ms, const uint8_t *body, size_t len, int bad_crc)
{
    static uint8_t wire[PROTO_MAX_WIRE];
    if (dev.stalled)
        return;
    struct proto_frame f = { PROTO_VERSION, type, dev.boot, seq, time_ms, body, len };
    size_t n = proto_encode(&f, bad_crc, wire);
    board_uart_write(wire, n);
}

/* send sends one frame carrying the next seq and the time now. */
static void send(uint8_t type, const uint8_t *body, size_t len, int bad_crc)
{
    send_as(type, dev.seq, device_time(), body, len, bad_crc);
}

/* The reading of telemetry frame seq: a deterministic synthetic value, the same formula as the Go
 * emulator's default sensor, so both devices send the same bodies (the audit is about the path). */
static void sensor(uint32_t seq, uint8_t body[PROTO_TELEMETRY_LEN])
{
    proto_put_u16(body, (uint16_t)(2150 + (int)(seq % 64u)));
    proto_put_u16(body + 2, (uint16_t)(3300u - seq % 16u));
}

static void send_hello(void)
{
    uint8_t body[PROTO_HELLO_LEN];
    for (unsigned i = 0; i < PROTO_UID_LEN; i++)
        body[i] = dev.uid[i];
    body[12] = FW_MAJOR;
    body[13] = FW_MINOR;
    body[14] = FW_PATCH;
    body[15] = dev.reset_cause;
    const uint8_t flush = 0x00; /* ends whatever partial frame a reset cut short at the receiver */
    board_uart_write(&flush, 1);
    send(PROTO_HELLO, body, sizeof body, 0);
}

static void service_telemetry(uint32_t now)
{
    if (dev.stalled || dev.interval_ms == 0 || (int32_t)(now - dev.next_due) < 0)
        return; /* a stalled device sends nothing and, as the emulator, consumes no seq */
    uint8_t body[PROTO_TELEMETRY_LEN];
    sensor(dev.seq, body);
    int bad = dev.corrupt_next;
    dev.corrupt_next = 0;
    uint32_t t = device_time();
    send_as(PROTO_TELEMETRY, dev.seq, t, body, sizeof body, bad);
    proto_replay_add(&sent, dev.seq, t, body); /* held whole even when corrupted: REPLAY sends it good */
    dev.seq++; /* consumed even when corrupted: the device believes it sent it */
    proto_history_sent(&nv->history, dev.seq);
    dev.next_due += dev.interval_ms;
    if ((int32_t)(now - dev.next_due) >= 0)
        dev.next_due = now + dev.interval_ms; /* resume at the period, not in a burst */
}

/* handle_command answers one COMMAND; it returns 1 when the device must reset after the answer. */
static int handle_command(const struct proto_frame *f)
{
    uint8_t op = f->body[0];
    const uint8_t *args = f->body + 1;
    uint8_t rsp[PROTO_RESPONSE_MIN + PROTO_STATS_LEN]; /* the longest data: STATS */
    _Static_assert(PROTO_IDENTIFY_LEN <= PROTO_STATS_LEN && PROTO_BOOT_STATS_LEN <= PROTO_STATS_LEN &&
                   PROTO_INTERVAL_LEN <= PROTO_STATS_LEN && PROTO_REPLAY_LEN <= PROTO_STATS_LEN, "rsp too small");
    size_t n = PROTO_RESPONSE_MIN;
    uint8_t status = proto_command_check(f->body, f->body_len); /* op known, args of its length */
    int reset = 0;
    uint32_t replay_from = 0, replay_count = 0;

    if (status == PROTO_STATUS_OK) {
        switch (op) {
        case PROTO_OP_IDENTIFY:
            for (unsigned i = 0; i < PROTO_UID_LEN; i++)
                rsp[n++] = dev.uid[i];
            rsp[n++] = FW_MAJOR;
            rsp[n++] = FW_MINOR;
            rsp[n++] = FW_PATCH;
            break;
        case PROTO_OP_STATS:
            proto_put_u32(rsp + n, dev.boot);
            proto_put_u32(rsp + n + 4, dev.seq);
            proto_put_u32(rsp + n + 8, dev.rx_ok);
            proto_put_u32(rsp + n + 12, dev.rx_bad);
            n += PROTO_STATS_LEN;
            break;
        case PROTO_OP_GET_INTERVAL:
            proto_put_u16(rsp + n, (uint16_t)dev.interval_ms); /* set from a u16, or the build default */
            n += PROTO_INTERVAL_LEN;
            break;
        case PROTO_OP_REPLAY:
            replay_from = proto_get_u32(args + 4);
            if (proto_get_u32(args) == dev.boot)
                replay_count = proto_replay_count(&sent, replay_from);
            proto_put_u16(rsp + n, (uint16_t)replay_count); /* at most PROTO_REPLAY_DEPTH */
            n += PROTO_REPLAY_LEN;
            break;
        case PROTO_OP_BOOT_STATS:
            /* A boot the history no longer (or never) held is bad args, as in the emulator. */
            if (!proto_history_lookup(&nv->history, proto_get_u32(args), rsp + n))
                status = PROTO_STATUS_BAD_ARGS;
            else
                n += PROTO_BOOT_STATS_LEN;
            break;
        }
    }
    if (status != PROTO_STATUS_OK)
        n = PROTO_RESPONSE_MIN;
    proto_put_u32(rsp, f->seq);
    rsp[4] = op;
    rsp[5] = status;
    send(PROTO_RESPONSE, rsp, n, 0);
    if (status != PROTO_STATUS_OK)
        return 0;

    /* Effects take hold after the RESPONSE, as in the emulator. */
    if (op == PROTO_OP_REPLAY) {
        /* Right after the RESPONSE, oldest first, as first sent; dev.seq and the counters stay.
         * The main loop sends no telemetry meanwhile (it resumes at the period afterwards). */
        for (uint32_t i = 0; i < sent.count && replay_count != 0; i++) {
            const struct proto_sent_frame *h = proto_replay_get(&sent, i);
            if (h->seq >= replay_from)
                send_as(PROTO_TELEMETRY, h->seq, h->time_ms, h->body, PROTO_TELEMETRY_LEN, 0);
        }
    } else if (op == PROTO_OP_SET_INTERVAL) {
        dev.interval_ms = proto_get_u16(args);
        dev.next_due = board_millis() + dev.interval_ms;
    } else if (op == PROTO_OP_FAULT) {
        switch (args[0]) {
        case PROTO_FAULT_NONE: dev.corrupt_next = 0; dev.stalled = 0; break;
        case PROTO_FAULT_CORRUPT_CRC: dev.corrupt_next = 1; break;
        case PROTO_FAULT_STALL: dev.stalled = 1; break;
        case PROTO_FAULT_RESET: reset = 1; break;
        case PROTO_FAULT_CLOCK_SKEW:
            /* Skew first, then its check word (in that order: the barrier): a reset in between
             * leaves a skew the check word does not vouch for, which the next boot clears. */
            nv->clock_skew_ms += proto_get_u32(args + 1);
            __asm volatile("" ::: "memory");
            nv->skew_check = board_skew_check(nv);
            break;
        }
    }
    return reset;
}

static void receive(void)
{
    uint8_t b;
    while (board_uart_read(&b)) {
        struct proto_frame f;
        int r = proto_rx_feed(&rx, b, &f);
        if (r == PROTO_NONE)
            continue;
        if (r != PROTO_FRAME || f.type != PROTO_COMMAND) {
            dev.rx_bad++; /* bad frames, and valid frames a device does not accept */
            continue;
        }
        dev.rx_ok++;
        if (handle_command(&f)) {
            board_uart_flush();
            nv->next_cause = PROTO_RESET_SOFTWARE;
            nv->check = board_noinit_check(nv);
            board_reset();
        }
    }
}

int main(void)
{
    board_clock_init();
    nv = board_noinit_block();
    bootinfo();
    board_read_uid(dev.uid);
    proto_rx_init(&rx);
    proto_replay_clear(&sent);
    dev.interval_ms = TELEMETRY_INTERVAL_MS;
    board_uart_init(UART_BAUD);
    irq_enable();
    dev.next_due = board_millis() + dev.interval_ms;
    send_hello();
    for (;;) {
        receive();
        service_telemetry(board_millis());
        wait_for_interrupt(); /* SysTick or a received byte wakes the loop */
    }
}
