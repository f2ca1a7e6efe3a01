/* Hardware layer of the firmware: clock, millisecond time, USART1, device identity, reset. */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Sets up the clock tree (168 MHz from HSI through the PLL, bounded waits) and SysTick at 1 kHz.
 * Returns the core clock in Hz. */
uint32_t board_clock_init(void);

/* Milliseconds since board_clock_init (wraps after 49.7 days). */
uint32_t board_millis(void);

/* USART1, 8N1, at baud; receive through an interrupt-fed ring. */
void board_uart_init(uint32_t baud);
void board_uart_write(const uint8_t *p, size_t n); /* blocks until the bytes are in the shift register */
void board_uart_flush(void);                       /* waits until the last bit has left the pin */
int board_uart_read(uint8_t *b);                   /* 1 and a byte, or 0 when the ring is empty */
uint32_t board_uart_overruns(void);                /* bytes lost to a full ring or a hardware overrun */

/* Reads the 96-bit UID into uid[12], lowest address first, and says where it came from:
 *   UID_FROM_REGISTERS  the factory UID registers at 0x1FFF7A10 (silicon);
 *   UID_FROM_MAILBOX    the registers are not mapped (reading them faults: QEMU's netduinoplus2 has
 *                       no UID ROM), and the rig programmed a UID into the mailbox: UID_MAILBOX_MAGIC
 *                       at UID_MAILBOX, then the three UID words. The mailbox is at 0x20020000, just
 *                       past the F405's 128 KiB of SRAM (QEMU maps 192 KiB there; on an F405 the
 *                       address is reserved and faults, on an F42x it is SRAM3 and the magic
 *                       guards it) and is only consulted when the UID registers fault;
 *   UID_NONE            neither: uid is 24 zero digits, which is what the gateway then sees. */
#define UID_NONE           0
#define UID_FROM_REGISTERS 1
#define UID_FROM_MAILBOX   2
#define UID_MAILBOX        0x20020000u
#define UID_MAILBOX_MAGIC  0x44495551u /* "QUID" */
int board_read_uid(uint8_t uid[12]);

/* Reads and clears the RCC reset flags; returns a PROTO_RESET_* cause. When no flag is set (QEMU's
 * RCC reads 0) it reads the reset-cause word of the mailbox instead: RESET_MAILBOX_TAG | cause at
 * RESET_MAILBOX, which the rig programs when it powers the QEMU board on (rig/qemu PowerOn) and
 * nothing re-applies on a later reset. A word with the tag is consumed (cleared), so the next
 * reset, e.g. through the reset line, says what it says without it (unknown under QEMU). Neither a
 * valid tag nor flags: PROTO_RESET_UNKNOWN. */
#define RESET_MAILBOX     (UID_MAILBOX + 16u)
#define RESET_MAILBOX_TAG 0x52534300u /* "\0CSR" in memory order; the low byte is the cause */
uint8_t board_reset_cause(void);

/* System reset through SCB AIRCR.SYSRESETREQ; never returns. */
void board_reset(void) __attribute__((noreturn));

/* Data that survives a reset and a power cut: the noinit block, which the startup code never
 * initialises. Where it lives (board_noinit_block):
 *   silicon  the 4 KiB backup SRAM (BKPSRAM, 0x40024000) in the battery-backed backup domain, with
 *            its backup regulator on: it survives a reset, and a power cut as long as VBAT is
 *            powered (a coin cell or supercap on VBAT; on a board that ties VBAT to VDD, such as
 *            the STM32F4DISCOVERY, a power cut clears it like any SRAM);
 *   QEMU     (which models no backup domain) the last NOINIT_SIZE bytes of SRAM, board_noinit:
 *            outside every loaded ELF segment, so neither the startup code nor QEMU's loader (which
 *            rewrites every loaded segment on system_reset) clears it, and rig/qemu's power cycle
 *            (PowerOff/PowerOn) saves and restores exactly this block, as the battery would.
 * Power-on with content the firmware did not write (random RAM, a cleared block) fails the magic or
 * the check word and is cleared: the count restarts at 0. See bootinfo in main.c. */
struct noinit {
    uint32_t magic;      /* NOINIT_MAGIC when the block is valid */
    uint32_t boot;       /* boot counter of the last boot */
    uint32_t next_cause; /* PROTO_RESET_* the firmware chose before resetting itself, or 0xFF */
    uint32_t check;      /* board_noinit_check(): detects a half-written block */
    uint32_t fault_pc;   /* PC of the last HardFault, 0 if none */
    uint32_t fault_cfsr; /* CFSR of the last HardFault */
    /* BOOT_STATS: the last PROTO_BOOT_HISTORY boots ending at boot (proto.h); checked on every
     * boot with proto_history_valid and cleared with the rest of the block. */
    struct proto_boot_history history;
    /* FAULT CLOCK_SKEW: added to every device_time_ms (i32 skews summed mod 2^32), kept across
     * resets and power cuts like a mis-set RTC; cleared with the block. Its own check word, written
     * after it, so a reset between the two stores loses the skew (back to 0), not the block. */
    uint32_t clock_skew_ms;
    uint32_t skew_check; /* board_skew_check() */
};
#define NOINIT_MAGIC 0x52494742u /* "BGIR" */
#define NOINIT_SIZE  256u        /* bytes reserved at the top of SRAM: stm32f405.ld must agree */
_Static_assert(sizeof(struct noinit) <= NOINIT_SIZE, "struct noinit outgrows its reserved block");
extern struct noinit board_noinit; /* the SRAM block (stm32f405.ld); board_noinit_end follows it */

/* Selects the board's noinit block, enabling the backup domain on silicon (PWR clock, DBP, BKPSRAM
 * clock, backup regulator with a bounded wait for BRR), and returns it. Call after
 * board_clock_init; before, the HardFault hook writes to board_noinit. */
struct noinit *board_noinit_block(void);

/* The check words of a block. */
uint32_t board_noinit_check(const struct noinit *b);
uint32_t board_skew_check(const struct noinit *b);

#endif
