/* The few STM32F405/F407 and Cortex-M4 registers this firmware touches (RM0090, PM0214), named as
 * in the reference manual. Register level on purpose: no vendor HAL, every access visible. */
#ifndef STM32F4_H
#define STM32F4_H

#include <stdint.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* RCC (RM0090 §7.3). Under QEMU's netduinoplus2 the RCC is an unimplemented device: reads give 0,
 * writes are ignored. */
#define RCC_BASE      0x40023800u
#define RCC_CR        REG(RCC_BASE + 0x00)
#define RCC_PLLCFGR   REG(RCC_BASE + 0x04)
#define RCC_CFGR      REG(RCC_BASE + 0x08)
#define RCC_AHB1ENR   REG(RCC_BASE + 0x30)
#define RCC_APB1ENR   REG(RCC_BASE + 0x40)
#define RCC_APB2ENR   REG(RCC_BASE + 0x44)
#define RCC_CSR       REG(RCC_BASE + 0x74)
#define RCC_CR_HSION     (1u << 0)
#define RCC_CR_HSIRDY    (1u << 1)
#define RCC_CR_PLLON     (1u << 24)
#define RCC_CR_PLLRDY    (1u << 25)
#define RCC_CFGR_SW_PLL  (2u << 0)
#define RCC_CFGR_SWS_MSK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_BKPSRAMEN (1u << 18)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_APB2ENR_USART1EN (1u << 4)
#define RCC_CSR_RMVF     (1u << 24)
#define RCC_CSR_BORRSTF  (1u << 25)
#define RCC_CSR_PINRSTF  (1u << 26)
#define RCC_CSR_PORRSTF  (1u << 27)
#define RCC_CSR_SFTRSTF  (1u << 28)
#define RCC_CSR_IWDGRSTF (1u << 29)
#define RCC_CSR_WWDGRSTF (1u << 30)
#define RCC_CSR_LPWRRSTF (1u << 31)

/* PWR (RM0090 §5.4) and the 4 KiB backup SRAM in the battery-backed (VBAT) domain (§5.1.2).
 * QEMU's netduinoplus2 models neither. */
#define PWR_CR        REG(0x40007000u)
#define PWR_CSR       REG(0x40007004u)
#define PWR_CR_DBP    (1u << 8)  /* backup domain write access */
#define PWR_CSR_BRR   (1u << 3)  /* backup regulator ready */
#define PWR_CSR_BRE   (1u << 9)  /* backup regulator on: keeps BKPSRAM on VBAT alone */
#define BKPSRAM_BASE  0x40024000u
#define BKPSRAM_SIZE  4096u

/* Flash interface. */
#define FLASH_ACR     REG(0x40023C00u)
#define FLASH_ACR_LATENCY_5WS (5u << 0)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN   (1u << 9)
#define FLASH_ACR_DCEN   (1u << 10)

/* GPIOA (USART1 TX on PA9, RX on PA10, alternate function 7). */
#define GPIOA_BASE    0x40020000u
#define GPIOA_MODER   REG(GPIOA_BASE + 0x00)
#define GPIOA_OSPEEDR REG(GPIOA_BASE + 0x08)
#define GPIOA_PUPDR   REG(GPIOA_BASE + 0x0C)
#define GPIOA_AFRH    REG(GPIOA_BASE + 0x24)

/* USART1 (RM0090 §30.6): QEMU's first -serial. */
#define USART1_BASE   0x40011000u
#define USART1_SR     REG(USART1_BASE + 0x00)
#define USART1_DR     REG(USART1_BASE + 0x04)
#define USART1_BRR    REG(USART1_BASE + 0x08)
#define USART1_CR1    REG(USART1_BASE + 0x0C)
#define USART1_CR2    REG(USART1_BASE + 0x10)
#define USART1_CR3    REG(USART1_BASE + 0x14)
#define USART_SR_ORE    (1u << 3)
#define USART_SR_RXNE   (1u << 5)
#define USART_SR_TC     (1u << 6)
#define USART_SR_TXE    (1u << 7)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE     (1u << 13)
#define USART1_IRQn   37u

/* Device electronic signature: the 96-bit unique ID (RM0090 §39.1). Not mapped by QEMU. */
#define UID_BASE      0x1FFF7A10u

/* Cortex-M4 system control. */
#define SYST_CSR      REG(0xE000E010u)
#define SYST_RVR      REG(0xE000E014u)
#define SYST_CVR      REG(0xE000E018u)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define NVIC_ISER(n)  REG(0xE000E100u + 4u * (n))
#define NVIC_IPR_BYTE(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define SCB_VTOR      REG(0xE000ED08u)
#define SCB_AIRCR     REG(0xE000ED0Cu)
#define SCB_CFSR      REG(0xE000ED28u)
#define SCB_HFSR      REG(0xE000ED2Cu)
#define SCB_BFAR      REG(0xE000ED38u)
#define SCB_CPACR     REG(0xE000ED88u)
#define SCB_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))

static inline void irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void wait_for_interrupt(void) { __asm volatile("wfi"); }
static inline void dsb(void) { __asm volatile("dsb 0xF" ::: "memory"); }

#endif
