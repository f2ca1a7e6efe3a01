/* Vector table and reset entry for the STM32F405/F407 (82 device interrupts). */
#include <stdint.h>

#include "stm32f4.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
void board_hardfault(uint32_t *frame);

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void HardFault_Handler(void) __attribute__((naked));
void SysTick_Handler(void);
void USART1_IRQHandler(void);

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;)
        *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    SCB_VTOR = 0x08000000u;
    main();
    for (;;) {
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}

/* Hands the stacked frame (MSP or PSP, by EXC_RETURN bit 2) to board_hardfault. */
void HardFault_Handler(void)
{
    __asm volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b board_hardfault\n");
}

#define VECTORS (16 + 82)

__attribute__((section(".isr_vector"), used))
void (*const vector_table[VECTORS])(void) = {
    [0 ... VECTORS - 1] = Default_Handler, /* then the ones this firmware handles: */
    [0] = (void (*)(void))&_estack,
    [1] = Reset_Handler,
    [2] = Default_Handler,   /* NMI */
    [3] = HardFault_Handler,
    [4] = HardFault_Handler, /* MemManage: disabled, escalates anyway */
    [5] = HardFault_Handler, /* BusFault */
    [6] = HardFault_Handler, /* UsageFault */
    [11] = Default_Handler,  /* SVCall */
    [14] = Default_Handler,  /* PendSV */
    [15] = SysTick_Handler,
    [16 + USART1_IRQn] = USART1_IRQHandler,
};
