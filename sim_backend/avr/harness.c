/* avr_harness: run an AVR firmware in simavr with its UART0 on a pseudo-terminal.
 *
 * Why: the reference firmware (docs/firmware/reward_controller) must be tested as compiled, not
 * only through a Python emulator written beside the host driver. This program runs the ELF in
 * libsimavr, paced to the wall clock, so rigctl's serial driver talks to the real firmware
 * through a real pty, and pins can be driven and watched with exact cycle timestamps.
 *
 *   avr_harness MCU F_CPU FIRMWARE.elf [--fast|--paced] [--probe PIN]
 *
 * stdout (one line each, flushed):
 *   PTY <path>                   the pty slave to open (first line)
 *   P <cycle> <port><bit> <0|1>  an I/O pin's output level changed (e.g. "P 123456 B0 1")
 *   I <cycle> <port><bit> <0|1>  an input level was applied (echo of an I command)
 *   L <cycle>                    a line end from the host entered UART0
 *   R <cycle>                    the MCU was reset
 *   Q <cycle>                    the last line, on quitting
 * stdin:
 *   I <port><bit> <0|1> [cycle]  drive an input pin, now or at a later cycle (one pending)
 *   C                            print "C <cycle>": the simulated cycle now
 *   R                            reset the MCU (as the DTR pulse of an Uno's USB bridge does)
 *   S                            print "S <passes> <p50> <p99> <max>": cycles between
 *                                toggles of the --probe pin since the last S (a benchmark
 *                                build toggles it every loop pass; not printed as P lines)
 *   Q, or end of input           quit
 *
 * Bytes from the host enter UART0 no faster than 115200 baud allows and only while simavr's
 * receive FIFO has room (XON/XOFF irqs). --fast runs unpaced (cycle-exact measurements with no
 * host in the loop). Built by sim_backend/avr/build.py: cc harness.c -lsimavr -lelf -lutil.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <simavr/avr_ioport.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_irq.h>

#define PORTS "ABCDEFGHJKL"
#define POLL_US 20            /* look at the pty and stdin this often (simulated time) */
#define BAUD 115200

typedef struct { avr_irq_t *irq; char name[3]; int level; } pin_t;

static avr_t *avr;
static int master = -1, xon = 0;
static pin_t pins[sizeof(PORTS) * 8];
static int n_pins = 0;
static unsigned char rx[4096];
static size_t rx_len = 0;
static avr_cycle_count_t next_rx = 0, cycles_per_byte, pending_at = 0;
static avr_irq_t *pending_irq = NULL;
static int pending_level = 0;
static char pending_name[3];
static pin_t *probe = NULL;            /* --probe: loop-pass statistics instead of P lines */
static avr_cycle_count_t probe_last = 0, probe_max = 0;
static unsigned long probe_hist[4096], probe_n = 0;  /* intervals in bins of 16 cycles */

static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap) {
  if (level <= LOG_WARNING) vfprintf(stderr, fmt, ap);  /* stdout carries the protocol above */
}

static void uart_out(avr_irq_t *irq, uint32_t value, void *p) {
  unsigned char c = (unsigned char)value;
  if (write(master, &c, 1) < 0) { /* nobody reading: dropped, as a USB bridge drops it */ }
}
static void uart_xon(avr_irq_t *irq, uint32_t v, void *p) { xon = 1; }
static void uart_xoff(avr_irq_t *irq, uint32_t v, void *p) { xon = 0; }

static void pin_changed(avr_irq_t *irq, uint32_t value, void *p) {
  pin_t *pin = p;
  if ((int)value == pin->level) return;
  pin->level = (int)value;
  if (pin == probe) {
    avr_cycle_count_t d = avr->cycle - probe_last;
    probe_last = avr->cycle;
    if (probe_n++ == 0) return;  /* the first toggle starts the interval */
    if (d > probe_max) probe_max = d;
    probe_hist[d / 16 < 4095 ? d / 16 : 4095]++;
    return;
  }
  printf("P %llu %s %u\n", (unsigned long long)avr->cycle, pin->name, value);
}

static avr_irq_t *pin_irq(const char *name) {
  for (int i = 0; i < n_pins; i++)
    if (!strcmp(pins[i].name, name)) return pins[i].irq;
  return NULL;
}

static void apply_input(avr_irq_t *irq, const char *name, int level) {
  avr_raise_irq(irq, level);
  printf("I %llu %s %d\n", (unsigned long long)avr->cycle, name, level);
}

static int command(char *line) { /* returns 0 to quit */
  char name[8]; int level; unsigned long long at = 0;
  if (line[0] == 'Q') return 0;
  if (line[0] == 'C') printf("C %llu\n", (unsigned long long)avr->cycle);
  if (line[0] == 'S') {
    unsigned long seen = 0, p50 = 0, p99 = 0, total = probe_n > 1 ? probe_n - 1 : 0;
    for (int i = 0; i < 4096 && total; i++) {
      seen += probe_hist[i];
      if (!p50 && seen * 2 >= total) p50 = (unsigned long)(i + 1) * 16;
      if (!p99 && seen * 100 >= total * 99) { p99 = (unsigned long)(i + 1) * 16; break; }
    }
    printf("S %lu %lu %lu %llu\n", total, p50, p99, (unsigned long long)probe_max);
    memset(probe_hist, 0, sizeof(probe_hist)); probe_n = 0; probe_max = 0;
  }
  if (line[0] == 'R') { avr_reset(avr); printf("R %llu\n", (unsigned long long)avr->cycle); }
  if (line[0] == 'I' && sscanf(line + 1, "%7s %d %llu", name, &level, &at) >= 2) {
    avr_irq_t *irq = pin_irq(name);
    if (!irq) { fprintf(stderr, "avr_harness: no pin %s\n", name); return 1; }
    if (at > avr->cycle) {
      pending_irq = irq; pending_level = level; pending_at = at;
      strncpy(pending_name, name, 2); pending_name[2] = 0;
    } else {
      apply_input(irq, name, level);
    }
  }
  return 1;
}

static int poll_io(void) { /* pty -> rx buffer, stdin -> commands; returns 0 to quit */
  static char cmd[256]; static size_t cmd_len = 0;
  struct pollfd fds[2] = {{master, POLLIN, 0}, {0, POLLIN, 0}};
  if (poll(fds, 2, 0) <= 0) return 1;
  if ((fds[0].revents & POLLIN) && rx_len < sizeof(rx)) {
    ssize_t n = read(master, rx + rx_len, sizeof(rx) - rx_len);
    if (n > 0) rx_len += (size_t)n;
  }
  if (fds[1].revents & (POLLIN | POLLHUP)) {
    ssize_t n = read(0, cmd + cmd_len, sizeof(cmd) - 1 - cmd_len);
    if (n <= 0) return 0;
    cmd_len += (size_t)n;
    char *nl;
    while ((nl = memchr(cmd, '\n', cmd_len))) {
      *nl = 0;
      if (!command(cmd)) return 0;
      cmd_len -= (size_t)(nl + 1 - cmd);
      memmove(cmd, nl + 1, cmd_len);
    }
    if (cmd_len == sizeof(cmd) - 1) cmd_len = 0;
  }
  return 1;
}

static double wall_us(const struct timespec *t0) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1e6 + (t.tv_nsec - t0->tv_nsec) / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: avr_harness MCU F_CPU FIRMWARE.elf [--fast]\n"); return 2; }
  int fast = argc > 4 && !strcmp(argv[4], "--fast");
  const char *probe_name = argc > 6 && !strcmp(argv[5], "--probe") ? argv[6] : NULL;
  avr_global_logger_set(quiet_logger);
  elf_firmware_t fw; memset(&fw, 0, sizeof(fw));
  if (elf_read_firmware(argv[3], &fw)) { fprintf(stderr, "avr_harness: cannot read %s\n", argv[3]); return 2; }
  avr = avr_make_mcu_by_name(argv[1]);
  if (!avr) { fprintf(stderr, "avr_harness: unknown MCU %s\n", argv[1]); return 2; }
  avr_init(avr);
  avr->frequency = (uint32_t)strtoul(argv[2], NULL, 10);
  avr_load_firmware(avr, &fw);
  avr->log = 0;

  int slave; char path[128];
  if (openpty(&master, &slave, path, NULL, NULL) < 0) { perror("openpty"); return 2; }
  struct termios tio; tcgetattr(slave, &tio); cfmakeraw(&tio); tcsetattr(slave, TCSANOW, &tio);
  fcntl(master, F_SETFL, O_NONBLOCK);  /* slave stays open: the host may close and reopen */

  uint32_t flags = 0;  /* no usleep when the firmware polls the UART, no console echo */
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_out, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff, NULL);
  avr_irq_t *uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  cycles_per_byte = avr->frequency / (BAUD / 10);

  for (const char *p = PORTS; *p; p++)
    for (int b = 0; b < 8; b++) {
      avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(*p), IOPORT_IRQ_PIN0 + b);
      if (!irq) continue;
      pin_t *pin = &pins[n_pins++];
      pin->irq = irq; pin->level = 0;
      snprintf(pin->name, sizeof(pin->name), "%c%d", *p, b);
      avr_irq_register_notify(irq, pin_changed, pin);
      if (probe_name && !strcmp(pin->name, probe_name)) probe = pin;
    }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("PTY %s\n", path);

  struct timespec t0; clock_gettime(CLOCK_MONOTONIC, &t0);
  avr_cycle_count_t poll_every = (avr_cycle_count_t)avr->frequency / 1000000 * POLL_US, next_poll = 0;
  for (;;) {
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) { fprintf(stderr, "avr_harness: MCU stopped (%d)\n", state); return 1; }
    if (pending_irq && avr->cycle >= pending_at) { apply_input(pending_irq, pending_name, pending_level); pending_irq = NULL; }
    if (rx_len && xon && avr->cycle >= next_rx) {
      if (rx[0] == '\n') printf("L %llu\n", (unsigned long long)avr->cycle);
      avr_raise_irq(uart_in, rx[0]);
      memmove(rx, rx + 1, --rx_len);
      next_rx = avr->cycle + cycles_per_byte;
    }
    if (avr->cycle < next_poll) continue;
    next_poll = avr->cycle + poll_every;
    if (!poll_io()) { printf("Q %llu\n", (unsigned long long)avr->cycle); return 0; }
    if (fast) continue;
    double ahead = avr->cycle * 1e6 / avr->frequency - wall_us(&t0);  /* pace to the wall clock */
    if (ahead > 1000) usleep((useconds_t)ahead);
  }
}
