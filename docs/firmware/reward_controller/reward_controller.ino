// rigctl reward-port controller: reference firmware for protocol 1 (docs/serial-protocol.md).
//
// Drives valves and cue/gate outputs and reads lick sensors for rigctl's `type:
// reward_controller` devices. Valve openings are timed here, on the board's own clock; input
// edges are streamed with this board's microsecond timestamps; if the host sends nothing for the
// watchdog period, every valve closes and every output drops by itself; an output marked as a
// laser gate (`GATE`) is dropped by this board once it has been high for its limit, whatever the
// host does. A sync train (`SYNC`) pulses one output at seeded random intervals, timed here, and
// reports every edge with this board's timestamp, so the host logs when each pulse happened.
//
// Timing (measured in simavr, docs/serial-protocol.md "Firmware timing"): valve closings are
// made by Timer1 compare interrupts, so a pulse's width does not depend on what the loop is
// doing; input edges are stamped by pin-change interrupts (INT pins), not by the loop;
// timestamps are printed without any division; the UART (USART0) is driven by this file's own
// interrupts (receive, data-register-empty) from ring buffers, not by Arduino's Serial; each
// loop pass does at most one piece of work (a host line, a reply's timestamp, one event), so the
// longest pass stays under 200 µs.
//
// Boards: ATmega328P (Uno, Nano) and ATmega2560 (Mega), built in CI from Debian's Arduino core
// (tests/firmware). Input pins must be external-interrupt pins (2 and 3 on both boards). Timer1
// is taken over for the valve timers, so analogWrite on pins 9 and 10 (Uno) is not available.
// USART0 is programmed directly, so boards whose host port is native USB (Leonardo) need a port.
// Pins below match hardware_configs/serial_rig.yaml ("Wiring" in docs/serial-protocol.md).

#include <Arduino.h>
#include <stdlib.h>
#include <string.h>

// ---- configuration -------------------------------------------------------------------------
static const char IDENTITY[] = "rigctl-reward";
static const uint8_t PROTOCOL = 1;
static const char FIRMWARE[] = "1.2.1";
static const unsigned long BAUD = 115200;

static const uint8_t VALVE_PINS[] = {8, 9};             // valve0, valve1 -> valve drivers
static const uint8_t INPUT_PINS[] = {2, 3};             // in0, in1 <- lick sensors (INT pins)
static const uint8_t OUTPUT_PINS[] = {10, 11, 12, 13};  // out0..out3: cues, laser gate, LED
static const bool INPUT_ACTIVE_LOW = false;  // true: sensor pulls the line low on contact
static const uint32_t DEBOUNCE_US = 500;     // an edge must hold this long; stamped at its start

static const uint8_t N_VALVES = sizeof(VALVE_PINS);  // at most 2: one Timer1 channel each
static const uint8_t N_INPUTS = sizeof(INPUT_PINS);
static const uint8_t N_OUTPUTS = sizeof(OUTPUT_PINS);
static_assert(N_VALVES == 2 && N_INPUTS == 2, "two valves (Timer1 A/B) and two INT inputs");
static const uint8_t MAX_LINE = 64;
static const uint32_t MAX_VALVE_US = 5000000UL;     // 5000 ms
static const uint32_t WDOG_MIN_MS = 50, WDOG_MAX_MS = 60000;
static const uint32_t GATE_MAX_MS = 1000000UL;      // 1000 s (intervals stay below 2^31 µs)
static const uint32_t ARM_WITHIN_US = 20000;        // hand a closing to Timer1 this close to it

// Error codes (docs/serial-protocol.md, "Errors").
enum { E_UNKNOWN = 1, E_ARGS = 2, E_RANGE = 3, E_CHANNEL = 4, E_LONG = 5 };

// A channel's port register and bit, looked up once: digitalWrite/digitalRead cost ~4 µs each.
struct Pin { volatile uint8_t *reg; uint8_t bit; };
static Pin pin_out(uint8_t arduino_pin) {
  Pin p = {portOutputRegister(digitalPinToPort(arduino_pin)), digitalPinToBitMask(arduino_pin)};
  return p;
}
static Pin pin_in(uint8_t arduino_pin) {
  Pin p = {portInputRegister(digitalPinToPort(arduino_pin)), digitalPinToBitMask(arduino_pin)};
  return p;
}
static inline void pin_write(const Pin &p, bool high) {
  uint8_t sreg = SREG;
  cli();  // read-modify-write of a port register an interrupt also writes (valves share ports)
  if (high) *p.reg |= p.bit; else *p.reg &= ~p.bit;
  SREG = sreg;
}

// ---- clocks --------------------------------------------------------------------------------
// Deadlines use the 32-bit micros() with wrap-safe differences (every interval < 35 min).
// Timestamps sent to the host are 64-bit µs since boot, kept in base 10^4 as
// a * 10^8 + b * 10^4 + c (b, c < 10^4): keeping them is a 16-bit add with a carry, and printing
// them needs no division at all (four digits come from two multiplications), where 64-bit
// division cost ~1 ms per line on an AVR and subtracting powers of ten still ~55 µs.
struct Stamp { uint32_t a; uint16_t b, c; };
static const uint16_t TEN4 = 10000;
static uint32_t clock_m = 0;          // micros() at the last update
static Stamp clock_now = {0, 0, 0};   // the same instant as a stamp

static inline bool reached(uint32_t now, uint32_t deadline) { return (int32_t)(now - deadline) >= 0; }

static void stamp_add(Stamp &s, uint32_t d) {
  if (d >= TEN4) {  // only after more than 10 ms between updates (boot): the general way
    uint32_t q = d / TEN4;
    d -= q * TEN4;
    uint32_t b = s.b + q % TEN4;
    s.a += q / TEN4;
    if (b >= TEN4) { b -= TEN4; s.a++; }
    s.b = (uint16_t)b;
  }
  uint16_t c = s.c + (uint16_t)d;
  if (c >= TEN4) { c -= TEN4; if (++s.b >= TEN4) { s.b = 0; s.a++; } }
  s.c = c;
}

static void stamp_sub(Stamp &s, uint32_t d) {  // d is at most the stamp (it is in the past)
  if (d >= TEN4) {
    uint32_t q = d / TEN4;
    d -= q * TEN4;
    uint16_t qb = (uint16_t)(q % TEN4);
    s.a -= q / TEN4;
    if (s.b >= qb) s.b -= qb; else { s.b += TEN4 - qb; s.a--; }
  }
  if (s.c >= (uint16_t)d) { s.c -= (uint16_t)d; return; }
  s.c += TEN4 - (uint16_t)d;
  if (s.b) s.b--; else { s.b = TEN4 - 1; s.a--; }
}

uint32_t clock_update() {  // called every loop pass: never misses a micros() wrap
  uint32_t m = micros();
  stamp_add(clock_now, m - clock_m);
  clock_m = m;
  return m;
}

Stamp stamp_of(uint32_t m) {  // a micros() value from the recent past (or now) as a stamp
  int32_t back = (int32_t)(clock_m - m);
  if (back < 0) { clock_update(); back = (int32_t)(clock_m - m); }  // m is after the update
  Stamp s = clock_now;
  stamp_sub(s, (uint32_t)back);
  return s;
}

// ---- the UART: interrupt-driven ring buffers ---------------------------------------------
// Arduino's Serial costs ~6 µs per byte written and ~4 µs per byte read, and formatting into a
// line buffer and then copying it into a ring (then 4 bytes a pass into Serial) paid for every
// byte three times. Here the receive interrupt fills rx_ring, the data-register-empty interrupt
// empties tx_ring, and a line is formatted once and queued whole (or dropped whole
// when the host is not reading: never half a line).
#if defined(USART0_RX_vect)
#define RX_VECT USART0_RX_vect
#define UDRE_VECT USART0_UDRE_vect
#else
#define RX_VECT USART_RX_vect
#define UDRE_VECT USART_UDRE_vect
#endif
static const uint16_t TX_SIZE = 512, TX_MASK = TX_SIZE - 1;  // a power of two
static const uint8_t RX_SIZE = 128, RX_MASK = RX_SIZE - 1;
static const uint8_t OUT_MAX = 128;  // the longest line this board sends, LF included
static char tx_ring[TX_SIZE];
static volatile uint16_t tx_head = 0, tx_tail = 0;  // head: main only; tail: the interrupt
static volatile char rx_ring[RX_SIZE];
static volatile uint8_t rx_head = 0, rx_tail = 0;   // head: the interrupt; tail: main only
static uint16_t tx_dropped = 0;  // lines dropped because the host was not reading

ISR(RX_VECT) {
  char c = UDR0;
  uint8_t next = (rx_head + 1) & RX_MASK;
  if (next != rx_tail) { rx_ring[rx_head] = c; rx_head = next; }  // full: dropped (host > 64)
}
ISR(UDRE_VECT) {
  uint16_t t = tx_tail;
  if (t == tx_head) { UCSR0B &= ~_BV(UDRIE0); return; }
  UDR0 = tx_ring[t];
  tx_tail = (t + 1) & TX_MASK;
}

static void uart_begin(unsigned long baud) {  // as Arduino's Serial.begin: U2X, 8N1
  uint16_t ubrr = (uint16_t)((F_CPU / 4 / baud - 1) / 2);
  UCSR0A = _BV(U2X0);
  UBRR0H = ubrr >> 8;
  UBRR0L = ubrr & 0xff;
  UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
  UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}
static inline bool rx_any() { return rx_head != rx_tail; }
static inline char rx_take() { char c = rx_ring[rx_tail]; rx_tail = (rx_tail + 1) & RX_MASK; return c; }

// A line is formatted with a plain pointer into line_out (an AVR pays ~30 cycles a character
// for a call that updates a global index; the inlined pointer costs ~4), then copied into the
// ring with memcpy. Every line is bounded by construction: host text is at most 64 characters
// and out_str stops well before the end, so the digits after it always fit.
static char line_out[OUT_MAX + 32];
static char *op = line_out;
static uint8_t lines_in_pass = 0;  // lines read or formatted since service() began

static inline void out_begin() { op = line_out; }
static inline __attribute__((always_inline)) void out_char(char c) { *op++ = c; }
void out_str(const char *s) {
  char *p = op, *end = line_out + OUT_MAX - 24;
  while (*s && p < end) *p++ = *s++;
  op = p;
}
// Decimal digits by subtracting powers of ten: an AVR has no divider, and a 32-bit division
// (what ultoa and Serial.print do per digit) costs ~40 µs at 16 MHz; this costs ~30 µs for ten
// digits in the worst case. `digits` > 0 pads with zeros to that many digits.
static const uint32_t POW10[10] = {1000000000UL, 100000000UL, 10000000UL, 1000000UL,
                                   100000UL, 10000UL, 1000UL, 100UL, 10UL, 1UL};
void out_digits(uint32_t v, uint8_t digits) {
  char *p = op;
  if (!digits && v < 10) { *p++ = '0' + (char)v; op = p; return; }  // channels, levels
  uint8_t k = digits ? 10 - digits : 0;
  if (!digits) while (k < 9 && v < POW10[k]) k++;  // no leading zeros
  for (; k < 6; k++) {  // the upper digits in 32 bits ...
    uint32_t q = POW10[k];
    char d = '0';
    while (v >= q) { v -= q; d++; }
    *p++ = d;
  }
  uint16_t w = (uint16_t)v;  // ... the last four (v < 10000 now) in 16 bits, half the work
  for (; k < 10; k++) {
    uint16_t q = (uint16_t)POW10[k];
    char d = '0';
    while (w >= q) { w -= q; d++; }
    *p++ = d;
  }
  op = p;
}
void out_u32(uint32_t v) { out_digits(v, 0); }
// Four digits of w < 10^4 with two multiplications: w / 100 = (w * 5243) >> 19 and
// x / 10 = (x * 103) >> 10 for x < 100, both exact over their whole ranges (checked
// exhaustively), so every stamp is printed right whatever its digits.
static void out4(uint16_t w, bool pad) {
  // >> 16 is a byte move; a shift by 19 would be a 19-step loop
  uint8_t hi = (uint8_t)((uint16_t)(((uint32_t)w * 5243UL) >> 16) >> 3);
  uint8_t lo = (uint8_t)(w - hi * 100);
  uint8_t d[4];
  d[0] = (uint8_t)((hi * 103U) >> 10); d[1] = hi - d[0] * 10;
  d[2] = (uint8_t)((lo * 103U) >> 10); d[3] = lo - d[2] * 10;
  char *p = op;
  uint8_t k = 0;
  if (!pad) while (k < 3 && !d[k]) k++;
  for (; k < 4; k++) *p++ = '0' + d[k];
  op = p;
}
void out_stamp(const Stamp &s) {
  if (s.a) { out_u32(s.a); out4(s.b, true); out4(s.c, true); }
  else if (s.b) { out4(s.b, false); out4(s.c, true); }
  else out4(s.c, false);
}
static inline void out_sp() { out_char(' '); }
void out_end() {  // queue the whole line, or drop it whole
  lines_in_pass++;
  *op++ = '\n';
  uint16_t len = (uint16_t)(op - line_out);
  uint8_t sreg = SREG;
  cli();
  uint16_t tail = tx_tail;
  SREG = sreg;
  uint16_t head = tx_head;
  if (TX_SIZE - 1 - ((head - tail) & TX_MASK) < len) { tx_dropped++; return; }
  uint16_t first = TX_SIZE - head;  // up to the end of the ring, then from its start
  if (first >= len) {
    memcpy(tx_ring + head, line_out, len);
  } else {
    memcpy(tx_ring + head, line_out, first);
    memcpy(tx_ring, line_out + first, len - first);
  }
  cli();
  tx_head = (head + len) & TX_MASK;
  UCSR0B |= _BV(UDRIE0);
  SREG = sreg;
}

// A reply that ends with a timestamp is sent in two passes: the command is parsed and acted on
// (and the reply begun) in one, the time is printed and the line queued in the next, with the
// service step (valves, inputs, sync, watchdog) in between. Parsing, acting and printing in one
// pass made it ~220 µs long (issue #17's target is 200).
static bool tail_pending = false;  // line_out holds a reply waiting for its timestamp
static uint32_t tail_m;            // micros() of that timestamp

void reply_tail(uint32_t m) { out_sp(); tail_m = m; tail_pending = true; }
void finish_tail() { out_stamp(stamp_of(tail_m)); out_end(); tail_pending = false; }

// ---- valves: opened by the loop, closed by Timer1 compare interrupts ------------------------
static Pin valve_pin[N_VALVES];
static bool valve_open[N_VALVES];
static bool valve_armed[N_VALVES];           // its closing is in Timer1's hands
static uint32_t valve_close_at[N_VALVES];
static volatile bool valve_fired[N_VALVES];  // Timer1 closed it; the loop reports it
static volatile uint32_t valve_fired_m[N_VALVES];

static void timer_close(uint8_t n) {  // from the ISR
  *valve_pin[n].reg &= ~valve_pin[n].bit;
  valve_fired_m[n] = micros();
  valve_fired[n] = true;
  if (n == 0) TIMSK1 &= ~_BV(OCIE1A); else TIMSK1 &= ~_BV(OCIE1B);
}
ISR(TIMER1_COMPA_vect) { timer_close(0); }
ISR(TIMER1_COMPB_vect) { timer_close(1); }

static void disarm(uint8_t n) {  // interrupts must be off
  if (n == 0) TIMSK1 &= ~_BV(OCIE1A); else TIMSK1 &= ~_BV(OCIE1B);
  valve_armed[n] = false;
}

static void arm_close(uint8_t n) {  // hand the closing to Timer1 (0.5 µs ticks)
  uint8_t sreg = SREG;
  cli();
  uint16_t tcnt = TCNT1;
  uint32_t now = micros();
  int32_t left = (int32_t)(valve_close_at[n] - now);
  if (left <= 2) {
    SREG = sreg;
    return;  // due now: the loop closes it
  }
  uint16_t at = tcnt + (uint16_t)(left * (int32_t)(F_CPU / 8000000UL));
  if (n == 0) { OCR1A = at; TIFR1 = _BV(OCF1A); TIMSK1 |= _BV(OCIE1A); }
  else { OCR1B = at; TIFR1 = _BV(OCF1B); TIMSK1 |= _BV(OCIE1B); }
  valve_armed[n] = true;
  SREG = sreg;
}

// ---- inputs: edges stamped by pin-change interrupts, debounced by the loop -----------------
static volatile bool in_pending[N_INPUTS];
static volatile uint32_t in_first_m[N_INPUTS], in_last_m[N_INPUTS];

static void edge(uint8_t n) {
  uint32_t m = micros();
  if (!in_pending[n]) { in_first_m[n] = m; in_pending[n] = true; }
  in_last_m[n] = m;
}
static void edge0() { edge(0); }
static void edge1() { edge(1); }

// ---- state ---------------------------------------------------------------------------------
static Pin out_pin[N_OUTPUTS];
static Pin in_pin[N_INPUTS];
static uint8_t out_level[N_OUTPUTS];
static uint32_t gate_ms[N_OUTPUTS];       // 0: not a gate; else the longest high time
static uint32_t gate_until[N_OUTPUTS];    // micros() at which a high gate is cut
static uint8_t gates_high = 0;            // bit n: output n is a gate and high (its timer runs)
static uint8_t in_level[N_INPUTS];
static bool streaming = false;
static uint32_t wdog_us = 0;  // 0: watchdog off (until the host arms it)
static uint32_t wdog_ms = 0;  // the same in ms, for STATUS (a division costs ~40 µs)
static bool tripped = false;
static uint32_t last_host_m = 0;
static char rx[MAX_LINE + 1];
static uint8_t rx_len = 0;
static bool rx_overflow = false;

void event_begin(const Stamp &t) { out_begin(); out_str("EVT "); out_stamp(t); out_sp(); }

uint8_t read_input(uint8_t n) {
  uint8_t v = (*in_pin[n].reg & in_pin[n].bit) != 0;
  return INPUT_ACTIVE_LOW ? !v : v;
}

void report_closed(uint8_t n, uint32_t m) {
  valve_open[n] = false;
  event_begin(stamp_of(m)); out_str("VALVE "); out_u32(n); out_str(" 0"); out_end();
}

void close_valve(uint8_t n) {
  uint8_t sreg = SREG;
  cli();
  disarm(n);
  bool fired = valve_fired[n];
  uint32_t fired_m = valve_fired_m[n];
  valve_fired[n] = false;
  *valve_pin[n].reg &= ~valve_pin[n].bit;
  SREG = sreg;
  if (fired) report_closed(n, fired_m);
  else if (valve_open[n]) report_closed(n, micros());
}

void arm_gate(uint8_t n, uint32_t m) {  // the limit runs from m while the output is high
  gate_until[n] = m + gate_ms[n] * 1000UL;
  if (gate_ms[n] && out_level[n]) gates_high |= _BV(n); else gates_high &= ~_BV(n);
}

void set_output(uint8_t n, uint8_t level, uint32_t m) {
  bool rising = level && !out_level[n];
  out_level[n] = level;
  if (rising || !level) arm_gate(n, m);  // high again while high: the limit is not extended
  pin_write(out_pin[n], level);
}

// ---- sync pulses: a seeded random train on one output, timed here, every edge reported ----
// Intervals are uniform whole milliseconds in mean ± spread from xorshift32 (13, 17, 5) seeded
// by the host: x ^= x << 13; x ^= x >> 17; x ^= x << 5; interval = mean - spread +
// (x * (2 spread + 1)) >> 32 (a multiplication: a 32-bit modulo costs ~40 µs on an AVR). Each rising edge is due one interval after the previous one's due time (lateness never
// accumulates), each falling edge a width after its rise. The loop sets the pin when an edge is
// due (at most one pass late) and stamps it when it set it, so the reported times are the line's.
static int8_t sync_n = -1;  // the output carrying the train; -1: none
static uint32_t sync_x, sync_lo_ms, sync_span_ms, sync_width_us;
static uint32_t sync_rise_at, sync_fall_at;  // micros() when the next edge is due
static bool sync_high = false;
static bool sync_draw = false;  // the next interval is still to be drawn (after a fall)
static const uint8_t SYNC_Q = 8;  // edges waiting to be reported (while host lines come in)
static uint8_t sync_qn = 0, sync_qr = 0;
static uint32_t sync_q_m[SYNC_Q];
static uint8_t sync_q_out[SYNC_Q], sync_q_level[SYNC_Q];
static uint16_t sync_lost = 0;  // edges not reported: the queue was full
// `SYNC n 0` is answered only after every edge still queued is reported, so a host that logs the
// reports up to the answer has the whole train (an edge made while the command was coming in
// waits for the line to end: without this its report followed the answer). -1: none owed.
static int8_t sync_ack = -1;

static uint32_t sync_interval_us() {
  uint32_t x = sync_x;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  sync_x = x;
  return (sync_lo_ms + (uint32_t)(((uint64_t)x * sync_span_ms) >> 32)) * 1000UL;
}

static void sync_edge(uint8_t level) {  // set the line now, stamp it, queue its report
  set_output((uint8_t)sync_n, level, micros());
  uint32_t m = micros();
  sync_high = level;
  if (sync_qn == SYNC_Q) { sync_lost++; return; }
  uint8_t i = (sync_qr + sync_qn) % SYNC_Q;
  sync_q_m[i] = m; sync_q_out[i] = (uint8_t)sync_n; sync_q_level[i] = level;
  sync_qn++;
}

void sync_stop() {  // the train ends; a line that is high goes low (and that edge is reported)
  if (sync_n < 0) return;
  if (sync_high) sync_edge(0);
  sync_n = -1;
}

void all_off() {
  sync_stop();
  for (uint8_t n = 0; n < N_VALVES; n++) close_valve(n);
  for (uint8_t n = 0; n < N_OUTPUTS; n++) set_output(n, 0, 0);
}

// ---- replies -------------------------------------------------------------------------------
void ok_begin(const char *name) { out_begin(); out_str("OK "); out_str(name); }
void reply_err(const char *name, uint8_t code, const char *text) {
  out_begin(); out_str("ERR "); out_str(name); out_sp(); out_u32(code); out_sp(); out_str(text); out_end();
}

// Decimal digits only, no sign, refusing values above 2^32 - 1 (they used to wrap around).
bool parse_uint(const char *s, const char *end, uint32_t *v) {
  if (s == end) return false;
  uint32_t x = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return false;
    uint8_t d = (uint8_t)(*s - '0');
    if (x > 429496729UL || (x == 429496729UL && d > 5)) return false;
    x = (x << 3) + (x << 1) + d;  // x * 10 without a call to the 32-bit multiply
  }
  *v = x;
  return true;
}
bool parse_u(const char *s, uint32_t *v) { return parse_uint(s, s + strlen(s), v); }

bool parse_ms_to_us(const char *s, uint32_t *us) {  // "40", "37.5", "0.125": <= 3 decimals
  const char *dot = strchr(s, '.');
  const char *end = s + strlen(s);
  uint32_t whole = 0, frac = 0;
  if (!parse_uint(s, dot ? dot : end, &whole)) return false;
  if (dot) {
    uint8_t f = (uint8_t)(end - dot - 1);
    if (f == 0 || f > 3 || !parse_uint(dot + 1, end, &frac)) return false;
    for (; f < 3; f++) frac *= 10;
  }
  if (whole > MAX_VALVE_US / 1000) return false;
  *us = whole * 1000UL + frac;
  return true;
}

bool channel(const char *name, const char *arg, uint8_t count, const char *what, uint8_t *n) {
  uint32_t v;
  if (!parse_u(arg, &v) || v >= count) {
    out_begin(); out_str("ERR "); out_str(name); out_str(" 4 no "); out_str(what); out_sp();
    out_str(arg); out_str(" ("); out_str(what); out_str("s 0-"); out_u32(count - 1); out_str(")");
    out_end();
    return false;
  }
  *n = (uint8_t)v;
  return true;
}

// ---- commands ------------------------------------------------------------------------------
static const uint8_t MAX_ARGV = 7;  // a name and 5 arguments (SYNC), and one to see "more"

// Split on spaces in place (a run of spaces is one separator). Faster than strtok, which tests
// every character against its delimiter set.
static uint8_t split(char *line, char **argv) {
  uint8_t argc = 0;
  char *c = line;
  for (;;) {
    while (*c == ' ') c++;
    if (!*c) return argc;
    if (argc == MAX_ARGV) return argc;  // more than there is room for: wrong for every command
    argv[argc++] = c;
    while (*c && *c != ' ') c++;
    if (!*c) return argc;
    *c++ = 0;
  }
}

void handle_line(char *line) {
  char *argv[MAX_ARGV];
  uint8_t argc = split(line, argv);
  if (argc == 0) return;
  const char *name = argv[0];
  uint8_t nargs = argc - 1;
  uint8_t n;
  uint32_t v;

#define NEED(k) if (nargs != (k)) { reply_err(name, E_ARGS, "expected " #k " argument(s)"); return; }

  if (!strcmp(name, "HELLO")) {
    ok_begin(name); out_sp(); out_str(IDENTITY); out_sp(); out_u32(PROTOCOL); out_sp();
    out_str(FIRMWARE); out_sp(); out_u32(N_VALVES); out_sp(); out_u32(N_INPUTS); out_sp();
    out_u32(N_OUTPUTS); out_end();
  } else if (!strcmp(name, "PING")) {
    NEED(1);
    ok_begin(name); out_sp(); out_str(argv[1]); reply_tail(micros());
  } else if (!strcmp(name, "WDOG")) {
    NEED(1);
    if (!parse_u(argv[1], &v) || (v != 0 && (v < WDOG_MIN_MS || v > WDOG_MAX_MS))) {
      reply_err(name, E_RANGE, "watchdog must be 0 (off) or 50-60000 ms"); return;
    }
    wdog_us = v * 1000UL;
    wdog_ms = v;
    ok_begin(name); out_sp(); out_u32(v); out_end();
  } else if (!strcmp(name, "VALVE")) {
    NEED(2);
    if (!channel(name, argv[1], N_VALVES, "valve", &n)) return;
    if (!parse_ms_to_us(argv[2], &v) || v == 0 || v > MAX_VALVE_US) {
      reply_err(name, E_RANGE, "duration must be 0.001-5000 ms"); return;
    }
    uint8_t sreg = SREG;
    cli();  // a new opening restarts the timer, whether or not Timer1 holds it
    disarm(n);
    valve_fired[n] = false;
    *valve_pin[n].reg |= valve_pin[n].bit;
    uint32_t opened = micros();
    SREG = sreg;
    valve_open[n] = true;
    valve_close_at[n] = opened + v;
    if (v <= ARM_WITHIN_US) arm_close(n);
    ok_begin(name); out_sp(); out_u32(n); reply_tail(opened);
  } else if (!strcmp(name, "CLOSE")) {
    NEED(1);
    if (!channel(name, argv[1], N_VALVES, "valve", &n)) return;
    close_valve(n);
    ok_begin(name); out_sp(); out_u32(n); out_end();
  } else if (!strcmp(name, "OUT")) {
    NEED(2);
    if (!channel(name, argv[1], N_OUTPUTS, "output", &n)) return;
    if (strcmp(argv[2], "0") && strcmp(argv[2], "1")) { reply_err(name, E_RANGE, "level must be 0 or 1"); return; }
    set_output(n, argv[2][0] == '1', micros());
    ok_begin(name); out_sp(); out_u32(n); out_sp(); out_str(argv[2]); out_end();
  } else if (!strcmp(name, "GATE")) {
    NEED(2);
    if (!channel(name, argv[1], N_OUTPUTS, "output", &n)) return;
    if (!parse_u(argv[2], &v) || v > GATE_MAX_MS) {
      reply_err(name, E_RANGE, "gate limit must be 0 (none) or 1-1000000 ms"); return;
    }
    gate_ms[n] = v;
    arm_gate(n, micros());  // an output already high gets its full limit from now
    ok_begin(name); out_sp(); out_u32(n); out_sp(); out_u32(v); out_end();
  } else if (!strcmp(name, "SYNC")) {
    if (nargs != 2 && nargs != 5) { reply_err(name, E_ARGS, "expected 2 or 5 argument(s)"); return; }
    if (!channel(name, argv[1], N_OUTPUTS, "output", &n)) return;
    if (nargs == 2) {  // SYNC <n> 0: stop the train on n
      if (strcmp(argv[2], "0")) { reply_err(name, E_RANGE, "SYNC <n> 0 stops a train"); return; }
      if (sync_n == (int8_t)n) sync_stop();
      sync_ack = (int8_t)n;  // answered by service() once the train's last edges are reported
      return;
    }
    uint32_t seed, mean, spread, width;
    if (!parse_u(argv[2], &seed) || !parse_u(argv[3], &mean) || !parse_u(argv[4], &spread) ||
        !parse_u(argv[5], &width) || seed == 0 || width < 1 || width > 1000 || mean > 600000UL ||
        spread > mean || mean - spread < 2 * width) {
      reply_err(name, E_RANGE, "needs seed >= 1, width 1-1000 ms, mean <= 600000 ms, "
                               "mean - spread >= 2 x width");
      return;
    }
    sync_stop();  // one train at a time: a running one ends first
    sync_n = (int8_t)n;
    sync_x = seed;
    sync_lo_ms = mean - spread;
    sync_span_ms = 2 * spread + 1;
    sync_width_us = width * 1000UL;
    uint32_t t0 = micros();
    sync_rise_at = sync_fall_at = t0;  // the first interval is drawn by service_sync
    sync_draw = true;
    ok_begin(name); out_sp(); out_u32(n); reply_tail(t0);
  } else if (!strcmp(name, "START")) {
    NEED(0);
    streaming = true;
    ok_begin(name); out_end();
  } else if (!strcmp(name, "STOP")) {
    NEED(0);
    streaming = false;
    ok_begin(name); out_end();
  } else if (!strcmp(name, "OFF")) {
    NEED(0);
    all_off();
    ok_begin(name); out_end();
  } else if (!strcmp(name, "STATUS")) {
    NEED(0);
    uint8_t vm = 0, om = 0, im = 0;
    for (uint8_t i = 0; i < N_VALVES; i++) vm |= valve_open[i] << i;
    for (uint8_t i = 0; i < N_OUTPUTS; i++) om |= out_level[i] << i;
    for (uint8_t i = 0; i < N_INPUTS; i++) im |= in_level[i] << i;
    ok_begin(name); out_sp(); out_u32(vm); out_sp(); out_u32(om); out_sp(); out_u32(im); out_sp();
    out_u32(wdog_ms); out_sp(); out_u32(streaming); out_end();
  } else {
    reply_err(name, E_UNKNOWN, "unknown command");
  }
#undef NEED
}

void service();

// One line per pass, and none in a pass that already formatted a line: formatting is what makes
// a pass long, so each pass formats at most one line (docs: "Firmware timing").
void read_host() {
  if (lines_in_pass) return;
  while (rx_any()) {
    char c = rx_take();
    if (c == '\r') continue;  // dropped wherever it appears: only LF ends a line
    if (c == '\n') {
      lines_in_pass++;  // a busy pass: what can wait (reports, drawing an interval) waits
      last_host_m = micros();  // any line, even an empty or bad one, shows the host is alive
      tripped = false;
      if (rx_overflow) {
        reply_err("?", E_LONG, "line longer than 64 characters");
      } else if (rx_len) {
        rx[rx_len] = 0;
        handle_line(rx);
      }
      rx_len = 0;
      rx_overflow = false;
      return;
    } else if (rx_len < MAX_LINE) {
      rx[rx_len++] = c;
    } else {
      rx_overflow = true;
    }
  }
}

// Reports (a valve closed by Timer1, an input edge, a sync edge) wait while the host's line is
// coming in or a line was formatted in this pass; their times were taken when they happened, so
// nothing is lost.
static inline bool may_report() { return !lines_in_pass && !tail_pending && !rx_len && !rx_any(); }

void service_valves(uint32_t m) {
  for (uint8_t n = 0; n < N_VALVES; n++) {
    if (valve_fired[n]) { if (may_report()) close_valve(n); continue; }
    if (!valve_open[n]) continue;
    if (reached(m, valve_close_at[n])) close_valve(n);  // a late hand-over: close now
    else if (!valve_armed[n] && reached(m + ARM_WITHIN_US, valve_close_at[n])) arm_close(n);
  }
}

void scan_inputs(uint32_t m) {
  for (uint8_t n = 0; n < N_INPUTS; n++) {
    if (!in_pending[n] || !may_report()) continue;
    uint8_t sreg = SREG;
    cli();
    uint32_t first = in_first_m[n], last = in_last_m[n];
    SREG = sreg;
    if (!reached(m, last + DEBOUNCE_US)) continue;  // still bouncing
    in_pending[n] = false;
    uint8_t v = read_input(n);
    if (v == in_level[n]) continue;  // a bounce that came back
    in_level[n] = v;
    if (streaming) {
      event_begin(stamp_of(first)); out_str("IN "); out_u32(n); out_sp(); out_u32(v); out_end();
    }
  }
}

void service_gates(uint32_t m) {
  for (uint8_t n = 0; n < N_OUTPUTS; n++) {
    if (!(gates_high & _BV(n)) || !reached(m, gate_until[n])) continue;
    set_output(n, 0, m);
    event_begin(stamp_of(m)); out_str("GATE "); out_u32(n); out_str(" 0"); out_end();
  }
}

// An interval is not drawn in the pass of the fall (or of the SYNC command) but in the next
// pass that reads or formats no line (0.5 ms after at the latest): the next rise is at least a
// width (1 ms) away, and no pass pays for both.
void service_sync(uint32_t m) {
  if (sync_draw) {
    if (lines_in_pass && !reached(m, sync_fall_at + 500)) return;
    sync_rise_at += sync_interval_us();
    sync_draw = false;
  } else if (!sync_high) {
    if (reached(m, sync_rise_at)) { sync_edge(1); sync_fall_at = sync_rise_at + sync_width_us; }
  } else if (reached(m, sync_fall_at)) {
    sync_edge(0);
    sync_draw = true;
  }
}

void report_sync() {
  uint8_t i = sync_qr;
  event_begin(stamp_of(sync_q_m[i])); out_str("SYNC "); out_u32(sync_q_out[i]); out_sp();
  out_u32(sync_q_level[i]); out_end();
  sync_qr = (sync_qr + 1) % SYNC_Q;
  sync_qn--;
}

void service() {
#ifdef LOOP_PROBE_PIN  // benchmarks only (benchmarks/bench_firmware.py): toggles every service
  static volatile uint8_t *probe = portOutputRegister(digitalPinToPort(LOOP_PROBE_PIN));
  static uint8_t probe_bit = digitalPinToBitMask(LOOP_PROBE_PIN);
  *probe ^= probe_bit;
#endif
  lines_in_pass = 0;
  uint32_t m = clock_update();
  // Only what has work: an idle pass must stay short, every busy pass pays for it too.
  if (valve_open[0] | valve_open[1]) service_valves(m);
  if (in_pending[0] | in_pending[1]) scan_inputs(m);
  if (gates_high) service_gates(m);
  if (sync_n >= 0) service_sync(m);
  if (sync_qn && may_report()) report_sync();
  else if (sync_ack >= 0 && may_report()) {
    ok_begin("SYNC"); out_sp(); out_u32((uint8_t)sync_ack); out_str(" 0"); out_end();
    sync_ack = -1;
  }
  if (wdog_us && !tripped && reached(m, last_host_m + wdog_us)) {
    tripped = true;
    all_off();
    event_begin(stamp_of(m)); out_str("WDOG"); out_end();
  }
}

void setup() {
  for (uint8_t n = 0; n < N_VALVES; n++) {
    pinMode(VALVE_PINS[n], OUTPUT);
    digitalWrite(VALVE_PINS[n], LOW);
    valve_pin[n] = pin_out(VALVE_PINS[n]);
  }
  for (uint8_t n = 0; n < N_OUTPUTS; n++) {
    pinMode(OUTPUT_PINS[n], OUTPUT);
    digitalWrite(OUTPUT_PINS[n], LOW);
    out_pin[n] = pin_out(OUTPUT_PINS[n]);
  }
  for (uint8_t n = 0; n < N_INPUTS; n++) {
    pinMode(INPUT_PINS[n], INPUT_ACTIVE_LOW ? INPUT_PULLUP : INPUT);
    in_pin[n] = pin_in(INPUT_PINS[n]);
    in_level[n] = read_input(n);
  }
  attachInterrupt(digitalPinToInterrupt(INPUT_PINS[0]), edge0, CHANGE);
  attachInterrupt(digitalPinToInterrupt(INPUT_PINS[1]), edge1, CHANGE);
  TCCR1A = 0;           // Timer1: normal mode, prescaler 8 (0.5 µs ticks at 16 MHz)
  TCCR1B = _BV(CS11);
  TIMSK1 = 0;
#ifdef LOOP_PROBE_PIN
  pinMode(LOOP_PROBE_PIN, OUTPUT);
#endif
  uart_begin(BAUD);
  clock_m = micros();
  stamp_add(clock_now, clock_m);
  last_host_m = clock_m;
  event_begin(clock_now); out_str("BOOT "); out_str(IDENTITY); out_sp(); out_u32(PROTOCOL); out_sp();
  out_str(FIRMWARE); out_end();
}

void loop() {
  if (tail_pending) finish_tail(); else read_host();
  service();
}
