// rigctl reward-port controller: reference firmware for protocol 1 (docs/serial-protocol.md).
//
// Drives valves and cue/gate outputs and reads lick sensors for rigctl's `type:
// reward_controller` devices. Valve openings are timed here, on the board's own clock; input
// edges are streamed with this board's microsecond timestamps; if the host sends nothing for the
// watchdog period, every valve closes and every output drops by itself; an output marked as a
// laser gate (`GATE`) is dropped by this board once it has been high for its limit, whatever the
// host does.
//
// Timing (measured in simavr, docs/serial-protocol.md "Firmware timing"): valve closings are
// made by Timer1 compare interrupts, so a pulse's width does not depend on what the loop is
// doing; input edges are stamped by pin-change interrupts (INT pins), not by the loop; decimal
// formatting works on 32-bit pieces (no 64-bit division), so a sent line costs tens of µs.
//
// Boards: ATmega328P (Uno, Nano) and ATmega2560 (Mega), built in CI from Debian's Arduino core
// (tests/firmware). Input pins must be external-interrupt pins (2 and 3 on both boards). Timer1
// is taken over for the valve timers, so analogWrite on pins 9 and 10 (Uno) is not available.
// Pins below match hardware_configs/serial_rig.yaml ("Wiring" in docs/serial-protocol.md).

#include <Arduino.h>
#include <stdlib.h>
#include <string.h>

// ---- configuration -------------------------------------------------------------------------
static const char IDENTITY[] = "rigctl-reward";
static const uint8_t PROTOCOL = 1;
static const char FIRMWARE[] = "1.1.0";
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

// ---- clocks --------------------------------------------------------------------------------
// Deadlines use the 32-bit micros() with wrap-safe differences (every interval < 35 min).
// Timestamps sent to the host are 64-bit µs since boot, kept as hi * 10^9 + lo so that printing
// them needs no 64-bit division (which costs ~1 ms per line on an AVR).
struct Stamp { uint32_t hi, lo; };
static const uint32_t GIGA = 1000000000UL;
static uint32_t clock_m = 0;          // micros() at the last update
static Stamp clock_now = {0, 0};      // the same instant as a stamp

static inline bool reached(uint32_t now, uint32_t deadline) { return (int32_t)(now - deadline) >= 0; }

uint32_t clock_update() {  // called every loop pass: never misses a micros() wrap
  uint32_t m = micros();
  clock_now.lo += m - clock_m;
  while (clock_now.lo >= GIGA) { clock_now.lo -= GIGA; clock_now.hi++; }
  clock_m = m;
  return m;
}

Stamp stamp_of(uint32_t m) {  // a micros() value from the recent past (or now) as a stamp
  uint32_t back = clock_m - m;
  Stamp s = clock_now;
  if ((int32_t)back < 0) { clock_update(); return stamp_of(m); }  // m is after the last update
  while (s.lo < back) { s.lo += GIGA; s.hi--; }
  s.lo -= back;
  return s;
}

// ---- non-blocking output: a ring buffer drained as fast as the serial port accepts ----------
static char tx[512];
static uint16_t tx_head = 0, tx_tail = 0;
static uint16_t tx_dropped = 0;  // lines dropped because the host was not reading

static uint16_t tx_free() { return (uint16_t)(sizeof(tx) - 1 - ((tx_head - tx_tail + sizeof(tx)) % sizeof(tx))); }

static char line_out[96];
static uint8_t line_len = 0;

void out_begin() { line_len = 0; }
void out_str(const char *s) {
  while (*s && line_len < sizeof(line_out) - 1) line_out[line_len++] = *s++;
}
// Decimal digits by subtracting powers of ten: an AVR has no divider, and a 32-bit division
// (what ultoa and Serial.print do per digit) costs ~40 µs at 16 MHz; this costs ~50 µs for ten
// digits in the worst case. `digits` > 0 pads with zeros to that many digits.
static const uint32_t POW10[10] = {1000000000UL, 100000000UL, 10000000UL, 1000000UL,
                                   100000UL, 10000UL, 1000UL, 100UL, 10UL, 1UL};
static inline void out_char(char c) { if (line_len < sizeof(line_out) - 1) line_out[line_len++] = c; }
void out_digits(uint32_t v, uint8_t digits) {
  if (!digits && v < 10) { out_char('0' + (char)v); return; }  // channels, levels: most numbers
  uint8_t k = digits ? 10 - digits : 0;
  if (!digits) while (k < 9 && v < POW10[k]) k++;  // no leading zeros
  for (; k < 6; k++) {  // the upper digits in 32 bits ...
    uint32_t p = POW10[k];
    char d = '0';
    while (v >= p) { v -= p; d++; }
    out_char(d);
  }
  uint16_t w = (uint16_t)v;  // ... the last four (v < 10000 now) in 16 bits, half the work
  for (; k < 10; k++) {
    uint16_t p = (uint16_t)POW10[k];
    char d = '0';
    while (w >= p) { w -= p; d++; }
    out_char(d);
  }
}
void out_u32(uint32_t v) { out_digits(v, 0); }
void out_stamp(Stamp s) {
  if (!s.hi) { out_digits(s.lo, 0); return; }
  out_digits(s.hi, 0);
  out_digits(s.lo, 9);
}
void out_sp() { out_str(" "); }
static uint8_t lines_in_pass = 0;  // lines formatted since the last service() began
void out_end() {  // queue the whole line, or drop it whole: never half a line
  lines_in_pass++;
  line_out[line_len++] = '\n';
  if (tx_free() < line_len) { tx_dropped++; return; }
  for (uint8_t i = 0; i < line_len; i++) { tx[tx_head] = line_out[i]; tx_head = (tx_head + 1) % sizeof(tx); }
}
// A few bytes per call: Serial.write costs ~6 µs a byte, and the UART sends one per 87 µs, so
// topping up its buffer a little on every pass keeps it busy without a long pass.
static const int TX_PER_PASS = 4;
void tx_pump() {
  int room = Serial.availableForWrite();
  if (room > TX_PER_PASS) room = TX_PER_PASS;
  while (room-- > 0 && tx_tail != tx_head) { Serial.write(tx[tx_tail]); tx_tail = (tx_tail + 1) % sizeof(tx); }
}

// ---- valves: opened by the loop, closed by Timer1 compare interrupts ------------------------
static volatile uint8_t *valve_reg[N_VALVES];
static uint8_t valve_bit[N_VALVES];
static bool valve_open[N_VALVES];
static bool valve_armed[N_VALVES];           // its closing is in Timer1's hands
static uint32_t valve_close_at[N_VALVES];
static volatile bool valve_fired[N_VALVES];  // Timer1 closed it; the loop reports it
static volatile uint32_t valve_fired_m[N_VALVES];

static void timer_close(uint8_t n) {  // from the ISR
  *valve_reg[n] &= ~valve_bit[n];
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
static uint8_t out_level[N_OUTPUTS];
static uint32_t gate_ms[N_OUTPUTS];       // 0: not a gate; else the longest high time
static uint32_t gate_until[N_OUTPUTS];    // micros() at which a high gate is cut
static uint8_t gates_high = 0;            // bit n: output n is a gate and high (its timer runs)
static uint8_t in_level[N_INPUTS];
static bool streaming = false;
static uint32_t wdog_us = 0;  // 0: watchdog off (until the host arms it)
static bool tripped = false;
static uint32_t last_host_m = 0;
static char rx[MAX_LINE + 1];
static uint8_t rx_len = 0;
static bool rx_overflow = false;

void event_begin(Stamp t) { out_begin(); out_str("EVT "); out_stamp(t); out_sp(); }

uint8_t read_input(uint8_t n) {
  uint8_t v = digitalRead(INPUT_PINS[n]) == HIGH;
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
  *valve_reg[n] &= ~valve_bit[n];
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
  digitalWrite(OUTPUT_PINS[n], level ? HIGH : LOW);
}

void all_off() {
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
    x = x * 10 + d;
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
void handle_line(char *line) {
  char *argv[4];
  uint8_t argc = 0;
  for (char *tok = strtok(line, " "); tok && argc < 4; tok = strtok(NULL, " ")) argv[argc++] = tok;
  if (argc == 0) return;
  if (strtok(NULL, " ")) argc = 4;  // more than 3 arguments: wrong for every command
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
    clock_update();
    ok_begin(name); out_sp(); out_str(argv[1]); out_sp(); out_stamp(clock_now); out_end();
  } else if (!strcmp(name, "WDOG")) {
    NEED(1);
    if (!parse_u(argv[1], &v) || (v != 0 && (v < WDOG_MIN_MS || v > WDOG_MAX_MS))) {
      reply_err(name, E_RANGE, "watchdog must be 0 (off) or 50-60000 ms"); return;
    }
    wdog_us = v * 1000UL;
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
    *valve_reg[n] |= valve_bit[n];
    uint32_t opened = micros();
    SREG = sreg;
    valve_open[n] = true;
    valve_close_at[n] = opened + v;
    if (v <= ARM_WITHIN_US) arm_close(n);
    ok_begin(name); out_sp(); out_u32(n); out_sp(); out_stamp(stamp_of(opened)); out_end();
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
    out_u32(wdog_us / 1000UL); out_sp(); out_u32(streaming); out_end();
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
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\r') continue;  // dropped wherever it appears: only LF ends a line
    if (c == '\n') {
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

// Reports (a valve closed by Timer1, an input edge) wait while the host's line is coming in or
// a line was formatted in this pass; their times were taken by interrupts, so nothing is lost.
static inline bool may_report() { return !lines_in_pass && !rx_len && Serial.available() == 0; }

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
  if (wdog_us && !tripped && reached(m, last_host_m + wdog_us)) {
    tripped = true;
    all_off();
    event_begin(stamp_of(m)); out_str("WDOG"); out_end();
  }
  if (tx_head != tx_tail) tx_pump();
}

void setup() {
  for (uint8_t n = 0; n < N_VALVES; n++) {
    pinMode(VALVE_PINS[n], OUTPUT);
    digitalWrite(VALVE_PINS[n], LOW);
    valve_reg[n] = portOutputRegister(digitalPinToPort(VALVE_PINS[n]));
    valve_bit[n] = digitalPinToBitMask(VALVE_PINS[n]);
  }
  for (uint8_t n = 0; n < N_OUTPUTS; n++) { pinMode(OUTPUT_PINS[n], OUTPUT); digitalWrite(OUTPUT_PINS[n], LOW); }
  for (uint8_t n = 0; n < N_INPUTS; n++) {
    pinMode(INPUT_PINS[n], INPUT_ACTIVE_LOW ? INPUT_PULLUP : INPUT);
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
  Serial.begin(BAUD);
  clock_m = micros();
  clock_now.lo = clock_m;
  last_host_m = clock_m;
  event_begin(clock_now); out_str("BOOT "); out_str(IDENTITY); out_sp(); out_u32(PROTOCOL); out_sp();
  out_str(FIRMWARE); out_end();
}

void loop() {
  read_host();
  service();
}
