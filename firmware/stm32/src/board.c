/* Hardware layer for an STM32F405/F407 (the bench board) and QEMU's netduinoplus2 (CI). */
#include "board.h"
#include "proto.h"
#include "stm32f4.h"

#define HSI_HZ      16000000u
#define PLL_HZ      168000000u
#define QEMU_HZ     168000000u /* netduinoplus2 clocks its SysTick from a fixed 168 MHz SYSCLK */
#define READY_SPINS 200000u    /* bound on every wait for an RCC ready flag (ms on silicon) */

static volatile uint32_t millis;
static uint32_t apb2_hz = HSI_HZ;
static int on_qemu; /* the clock tree reads 0: QEMU's netduinoplus2, not silicon */
static struct noinit *nv = &board_noinit; /* the block the HardFault hook records into */

static int wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < READY_SPINS; i++)
        if ((*reg & mask) == want)
            return 1;
    return 0;
}

uint32_t board_clock_init(void)
{
    uint32_t core = HSI_HZ;
    SCB_CPACR |= 0xFu << 20; /* the FPU, in case the compiler uses it */
    if (RCC_CR == 0) {
        /* Silicon always reads HSION|HSIRDY here (HSI is the reset clock and cannot be stopped
         * while it runs the core). Zero means the clock tree is not modelled: QEMU. Its SysTick
         * runs from a fixed 168 MHz and its USART ignores BRR. */
        core = QEMU_HZ;
        apb2_hz = QEMU_HZ / 2;
        on_qemu = 1;
    } else {
        /* HSI 16 MHz / M 16 * N 336 / P 2 = 168 MHz; Q 7 gives 48 MHz. No HSE: board-agnostic. */
        FLASH_ACR = FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
        RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (0u << 22) | (7u << 24);
        RCC_CR |= RCC_CR_PLLON;
        if (wait_set(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
            RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
            if (wait_set(&RCC_CFGR, RCC_CFGR_SWS_MSK, RCC_CFGR_SWS_PLL)) {
                core = PLL_HZ;
                apb2_hz = PLL_HZ / 2;
            }
        }
        /* On a timeout the core stays on HSI at 16 MHz, with all bus prescalers at 1. */
        if (core == HSI_HZ) {
            RCC_CFGR = 0;
            apb2_hz = HSI_HZ;
        }
    }
    SYST_RVR = core / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    return core;
}

void SysTick_Handler(void) { millis++; }

uint32_t board_millis(void) { return millis; }

/* Receive ring: written by the USART1 interrupt, read by the main loop. */
#define RX_RING 512u
static volatile uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head, rx_tail, rx_overruns;

void board_uart_init(uint32_t baud)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9 TX, PA10 RX: alternate function 7, high speed, pull-up on RX. */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_OSPEEDR |= 0xFu << 18;
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(0x3u << 20)) | (0x1u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);
    USART1_BRR = (apb2_hz + baud / 2u) / baud; /* oversampling by 16: mantissa and fraction in one */
    USART1_CR2 = 0;
    USART1_CR3 = 0;
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_IPR_BYTE(USART1_IRQn) = 0x40;
    NVIC_ISER(USART1_IRQn / 32u) = 1u << (USART1_IRQn % 32u);
}

void USART1_IRQHandler(void)
{
    uint32_t sr = USART1_SR;
    if (sr & (USART_SR_RXNE | USART_SR_ORE)) {
        uint8_t b = (uint8_t)USART1_DR; /* reading SR then DR also clears ORE */
        if (sr & USART_SR_ORE)
            rx_overruns++;
        uint32_t next = (rx_head + 1u) % RX_RING;
        if (next == rx_tail) {
            rx_overruns++;
        } else {
            rx_ring[rx_head] = b;
            rx_head = next;
        }
    }
}

int board_uart_read(uint8_t *b)
{
    if (rx_tail == rx_head)
        return 0;
    *b = rx_ring[rx_tail];
    rx_tail = (rx_tail + 1u) % RX_RING;
    return 1;
}

uint32_t board_uart_overruns(void) { return rx_overruns; }

void board_uart_write(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(USART1_SR & USART_SR_TXE)) {
        }
        USART1_DR = p[i];
    }
}

void board_uart_flush(void)
{
    for (uint32_t i = 0; i < 10u * READY_SPINS && !(USART1_SR & USART_SR_TC); i++) {
    }
}

/* Fault-tolerant loads: while probe_active is set, a bus fault on the probed load is skipped by the
 * HardFault handler instead of being fatal. */
static volatile uint32_t probe_active, probe_faulted;

static uint32_t probe_load(uint32_t addr)
{
    uint32_t v = 0;
    /* ldr.w is 4 bytes: the handler skips exactly this instruction. */
    __asm volatile("ldr.w %0, [%1]" : "+r"(v) : "r"(addr) : "memory");
    return v;
}

int board_read_uid(uint8_t uid[12])
{
    uint32_t w[3] = {0, 0, 0};
    int source = UID_FROM_REGISTERS;
    probe_faulted = 0;
    probe_active = 1;
    for (int i = 0; i < 3; i++)
        w[i] = probe_load(UID_BASE + 4u * (uint32_t)i);
    if (probe_faulted) {
        /* No UID ROM (QEMU): look for the UID the rig programmed into the mailbox. */
        probe_faulted = 0;
        source = UID_FROM_MAILBOX;
        if (probe_load(UID_MAILBOX) != UID_MAILBOX_MAGIC || probe_faulted) {
            source = UID_NONE;
        } else {
            for (int i = 0; i < 3; i++)
                w[i] = probe_load(UID_MAILBOX + 4u + 4u * (uint32_t)i);
            if (probe_faulted)
                source = UID_NONE;
        }
    }
    probe_active = 0;
    for (int i = 0; i < 3; i++)
        proto_put_u32(uid + 4 * i, source == UID_NONE ? 0u : w[i]);
    return source;
}

/* The reset cause the rig left in the mailbox (QEMU), consumed on read; see board.h. Silicon never
 * gets here with a reset flag set; an F405 faults on the address (the probe skips the load) and an
 * F42x has SRAM3 there, whose content the tag guards. */
static uint8_t mailbox_reset_cause(void)
{
    probe_faulted = 0;
    probe_active = 1;
    uint32_t w = probe_load(RESET_MAILBOX);
    probe_active = 0;
    if (probe_faulted || (w & 0xFFFFFF00u) != RESET_MAILBOX_TAG)
        return PROTO_RESET_UNKNOWN;
    REG(RESET_MAILBOX) = 0; /* a RAM word (the load succeeded): the next reset does not see it */
    uint8_t cause = (uint8_t)w;
    return cause <= PROTO_RESET_LOWPOWER ? cause : PROTO_RESET_UNKNOWN;
}

uint8_t board_reset_cause(void)
{
    uint32_t csr = RCC_CSR;
    RCC_CSR |= RCC_CSR_RMVF;
    if (csr == 0)
        return mailbox_reset_cause();
    /* A power-on sets POR, BOR and PIN together; a software reset also pulls NRST: most specific first. */
    if (csr & RCC_CSR_LPWRRSTF) return PROTO_RESET_LOWPOWER;
    if (csr & (RCC_CSR_IWDGRSTF | RCC_CSR_WWDGRSTF)) return PROTO_RESET_WATCHDOG;
    if (csr & RCC_CSR_SFTRSTF) return PROTO_RESET_SOFTWARE;
    if (csr & RCC_CSR_PORRSTF) return PROTO_RESET_POWER_ON;
    if (csr & RCC_CSR_BORRSTF) return PROTO_RESET_BROWNOUT;
    if (csr & RCC_CSR_PINRSTF) return PROTO_RESET_PIN;
    return PROTO_RESET_UNKNOWN;
}

uint32_t board_noinit_check(const struct noinit *b) { return ~(b->magic ^ b->boot ^ b->next_cause); }

uint32_t board_skew_check(const struct noinit *b) { return ~(NOINIT_MAGIC ^ b->clock_skew_ms); }

struct noinit *board_noinit_block(void)
{
    _Static_assert(sizeof(struct noinit) <= BKPSRAM_SIZE, "struct noinit outgrows the backup SRAM");
    if (on_qemu)
        return nv = &board_noinit;
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR; /* the clock takes effect after a bus access (ES0182 errata: delay after a peripheral clock enable) */
    PWR_CR |= PWR_CR_DBP;
    RCC_AHB1ENR |= RCC_AHB1ENR_BKPSRAMEN;
    (void)RCC_AHB1ENR;
    PWR_CSR |= PWR_CSR_BRE;
    /* Until BRR the content would not outlive VDD; it is usable either way, so go on after the
     * bound (the block then survives resets only, and the next power-on clears it). */
    wait_set(&PWR_CSR, PWR_CSR_BRR, PWR_CSR_BRR);
    return nv = (struct noinit *)BKPSRAM_BASE;
}

void board_reset(void)
{
    dsb();
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    dsb();
    for (;;) {
    }
}

/* Called by the HardFault entry in startup.c with the stacked exception frame (r0-r3, r12, lr, pc,
 * xpsr). A probed load that faulted is skipped; any other fault is recorded in the noinit block
 * and the device resets itself (the next HELLO then says software). */
void board_hardfault(uint32_t *frame)
{
    if (probe_active) {
        probe_faulted = 1;
        frame[6] += 4u;
        SCB_CFSR = SCB_CFSR; /* write-one-to-clear the fault status */
        SCB_HFSR = SCB_HFSR;
        return;
    }
    nv->fault_pc = frame[6];
    nv->fault_cfsr = SCB_CFSR;
    nv->next_cause = PROTO_RESET_SOFTWARE;
    nv->check = board_noinit_check(nv);
    board_reset();
}
