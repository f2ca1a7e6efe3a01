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

/* Reads and clears the RCC reset flags; returns a PROTO_RESET_* cause, or PROTO_RESET_UNKNOWN when
 * no flag is set (QEMU's RCC reads 0). */
uint8_t board_reset_cause(void);

/* System reset through SCB AIRCR.SYSRESETREQ; never returns. */
void board_reset(void) __attribute__((noreturn));

/* Data that survives a reset (not a power cut): a word-aligned block of NOINIT_SIZE bytes at the
 * top of SRAM, outside every loaded ELF segment, so neither the startup code nor QEMU's loader
 * clears it (stm32f405.ld reserves the same size). See bootinfo in main.c. */
struct noinit {
    uint32_t magic;      /* NOINIT_MAGIC when the block is valid */
    uint32_t boot;       /* boot counter of the last boot */
    uint32_t next_cause; /* PROTO_RESET_* the firmware chose before resetting itself, or 0xFF */
    uint32_t check;      /* ~(magic ^ boot ^ next_cause): detects a half-written block */
    uint32_t fault_pc;   /* PC of the last HardFault, 0 if none */
    uint32_t fault_cfsr; /* CFSR of the last HardFault */
    /* BOOT_STATS: the last PROTO_BOOT_HISTORY boots ending at boot (proto.h); checked on every
     * boot with proto_history_valid and cleared with the rest of the block. */
    struct proto_boot_history history;
};
#define NOINIT_MAGIC 0x52494742u /* "BGIR" */
#define NOINIT_SIZE  256u        /* bytes reserved at the top of SRAM: stm32f405.ld must agree */
_Static_assert(sizeof(struct noinit) <= NOINIT_SIZE, "struct noinit outgrows its reserved block");
extern struct noinit board_noinit;

#endif
