// rigctl reward-port controller: reference firmware for protocol 1 (docs/serial-protocol.md).
//
// Drives valves and cue/gate outputs and reads lick sensors for rigctl's `type:
// reward_controller` devices. Valve openings are timed here, on the board's own clock; input
// edges are streamed with this board's microsecond timestamps; if the host sends nothing for the
// watchdog period, every valve closes and every output drops by itself.
//
// Boards: any Arduino-class board. Prefer one with native USB (Leonardo/Micro, Teensy, SAMD21,
// RP2040): its USB serial never makes the loop wait. On an Uno/Nano (UART at 115200 baud) this
// sketch still never blocks: outgoing lines go through a ring buffer and are written only as
// fast as the UART takes them, so valve timing stays within one loop pass (tens of µs).
//
// Not compiled in CI. Build with the Arduino IDE or `arduino-cli compile --fqbn arduino:avr:uno`.
// Pins below match hardware_configs/serial_rig.yaml ("Wiring" in docs/serial-protocol.md).

#include <Arduino.h>
#include <stdlib.h>
#include <string.h>

// ---- configuration -------------------------------------------------------------------------
static const char IDENTITY[] = "rigctl-reward";
static const uint8_t PROTOCOL = 1;
static const char FIRMWARE[] = "1.0.0";
static const unsigned long BAUD = 115200;

static const uint8_t VALVE_PINS[] = {8, 9};            // valve0, valve1 -> valve drivers
static const uint8_t INPUT_PINS[] = {2, 3};            // in0, in1 <- lick sensors
static const uint8_t OUTPUT_PINS[] = {10, 11, 12, 13};  // out0..out3: cues, laser gate, LED
static const bool INPUT_ACTIVE_LOW = false;  // true: sensor pulls the line low on contact
static const uint32_t DEBOUNCE_US = 500;     // an edge must hold this long; stamped at its start

static const uint8_t N_VALVES = sizeof(VALVE_PINS);
static const uint8_t N_INPUTS = sizeof(INPUT_PINS);
static const uint8_t N_OUTPUTS = sizeof(OUTPUT_PINS);
static const uint8_t MAX_LINE = 64;
static const uint32_t MAX_VALVE_US = 5000000UL;  // 5000 ms
static const uint16_t WDOG_MIN_MS = 50, WDOG_MAX_MS = 60000;

// Error codes (docs/serial-protocol.md, "Errors").
enum { E_UNKNOWN = 1, E_ARGS = 2, E_RANGE = 3, E_CHANNEL = 4, E_LONG = 5 };

// ---- 64-bit microsecond clock: micros() wraps every 71.6 minutes, sessions last longer -------
static uint32_t last_micros = 0;
static uint64_t micros_high = 0;

uint64_t now_us() {
  uint32_t m = micros();
  if (m < last_micros) micros_high += 0x100000000ULL;  // called every loop pass: never misses
  last_micros = m;
  return micros_high | m;
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
void out_u64(uint64_t v) {  // Serial.print has no 64-bit integers on AVR
  char buf[21];
  uint8_t i = sizeof(buf) - 1;
  buf[i] = 0;
  do { buf[--i] = '0' + (char)(v % 10); v /= 10; } while (v && i);
  out_str(&buf[i]);
}
void out_sp() { out_str(" "); }
void out_end() {  // queue the whole line, or drop it whole: never half a line
  line_out[line_len++] = '\n';
  if (tx_free() < line_len) { tx_dropped++; return; }
  for (uint8_t i = 0; i < line_len; i++) { tx[tx_head] = line_out[i]; tx_head = (tx_head + 1) % sizeof(tx); }
}
void tx_pump() {
  int room = Serial.availableForWrite();
  while (room-- > 0 && tx_tail != tx_head) { Serial.write(tx[tx_tail]); tx_tail = (tx_tail + 1) % sizeof(tx); }
}

// ---- state ---------------------------------------------------------------------------------
static bool valve_open[N_VALVES];
static uint64_t valve_close_at[N_VALVES];
static uint8_t out_level[N_OUTPUTS];
static uint8_t in_level[N_INPUTS], in_candidate[N_INPUTS];
static uint64_t in_since[N_INPUTS];
static bool streaming = false;
static uint32_t wdog_us = 0;  // 0: watchdog off (until the host arms it)
static bool tripped = false;
static uint64_t last_host_us = 0;
static char rx[MAX_LINE + 1];
static uint8_t rx_len = 0;
static bool rx_overflow = false;

void event_begin(uint64_t t) { out_begin(); out_str("EVT "); out_u64(t); out_sp(); }

uint8_t read_input(uint8_t n) {
  uint8_t v = digitalRead(INPUT_PINS[n]) == HIGH;
  return INPUT_ACTIVE_LOW ? !v : v;
}

void close_valve(uint8_t n, uint64_t t) {
  if (!valve_open[n]) return;
  digitalWrite(VALVE_PINS[n], LOW);
  valve_open[n] = false;
  event_begin(t); out_str("VALVE "); out_u64(n); out_str(" 0"); out_end();
}

void all_off(uint64_t t) {
  for (uint8_t n = 0; n < N_VALVES; n++) close_valve(n, t);
  for (uint8_t n = 0; n < N_OUTPUTS; n++) { digitalWrite(OUTPUT_PINS[n], LOW); out_level[n] = 0; }
}

// ---- replies -------------------------------------------------------------------------------
void ok_begin(const char *name) { out_begin(); out_str("OK "); out_str(name); }
void reply_err(const char *name, uint8_t code, const char *text) {
  out_begin(); out_str("ERR "); out_str(name); out_sp(); out_u64(code); out_sp(); out_str(text); out_end();
}

bool parse_uint(const char *s, uint32_t *v) {  // decimal digits only, no sign
  if (!*s) return false;
  uint32_t x = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || x > 429496729UL) return false;
    x = x * 10 + (uint32_t)(*s - '0');
  }
  *v = x;
  return true;
}

bool parse_ms_to_us(const char *s, uint32_t *us) {  // "40", "37.5", "0.125": <= 3 decimals
  uint32_t whole = 0, frac = 0, scale = 1000;
  const char *dot = strchr(s, '.');
  char buf[12];
  if (dot) {
    size_t w = dot - s, f = strlen(dot + 1);
    if (w == 0 || w >= sizeof(buf) || f == 0 || f > 3) return false;
    memcpy(buf, s, w); buf[w] = 0;
    if (!parse_uint(buf, &whole) || !parse_uint(dot + 1, &frac)) return false;
    for (size_t i = 0; i < f; i++) scale /= 10;
    frac *= scale;
  } else if (!parse_uint(s, &whole)) {
    return false;
  }
  if (whole > MAX_VALVE_US / 1000) return false;
  *us = whole * 1000UL + frac;
  return true;
}

bool channel(const char *name, const char *arg, uint8_t count, const char *what, uint8_t *n) {
  uint32_t v;
  if (!parse_uint(arg, &v) || v >= count) {
    out_begin(); out_str("ERR "); out_str(name); out_str(" 4 no "); out_str(what); out_sp();
    out_str(arg); out_str(" ("); out_str(what); out_str("s 0-"); out_u64(count - 1); out_str(")");
    out_end();
    return false;
  }
  *n = (uint8_t)v;
  return true;
}

// ---- commands ------------------------------------------------------------------------------
void handle_line(char *line, uint64_t t) {
  char *argv[4];
  uint8_t argc = 0;
  for (char *tok = strtok(line, " "); tok && argc < 4; tok = strtok(NULL, " ")) argv[argc++] = tok;
  if (argc == 0) return;
  const char *name = argv[0];
  uint8_t nargs = argc - 1;
  uint8_t n;
  uint32_t v;

#define NEED(k) if (nargs != (k)) { reply_err(name, E_ARGS, "expected " #k " argument(s)"); return; }

  if (!strcmp(name, "HELLO")) {
    ok_begin(name); out_sp(); out_str(IDENTITY); out_sp(); out_u64(PROTOCOL); out_sp();
    out_str(FIRMWARE); out_sp(); out_u64(N_VALVES); out_sp(); out_u64(N_INPUTS); out_sp();
    out_u64(N_OUTPUTS); out_end();
  } else if (!strcmp(name, "PING")) {
    NEED(1);
    ok_begin(name); out_sp(); out_str(argv[1]); out_sp(); out_u64(now_us()); out_end();
  } else if (!strcmp(name, "WDOG")) {
    NEED(1);
    if (!parse_uint(argv[1], &v) || (v != 0 && (v < WDOG_MIN_MS || v > WDOG_MAX_MS))) {
      reply_err(name, E_RANGE, "watchdog must be 0 (off) or 50-60000 ms"); return;
    }
    wdog_us = v * 1000UL;
    ok_begin(name); out_sp(); out_u64(v); out_end();
  } else if (!strcmp(name, "VALVE")) {
    NEED(2);
    if (!channel(name, argv[1], N_VALVES, "valve", &n)) return;
    if (!parse_ms_to_us(argv[2], &v) || v == 0 || v > MAX_VALVE_US) {
      reply_err(name, E_RANGE, "duration must be 0.001-5000 ms"); return;
    }
    digitalWrite(VALVE_PINS[n], HIGH);  // a new opening restarts the timer
    valve_open[n] = true;
    valve_close_at[n] = t + v;
    ok_begin(name); out_sp(); out_u64(n); out_sp(); out_u64(t); out_end();
  } else if (!strcmp(name, "CLOSE")) {
    NEED(1);
    if (!channel(name, argv[1], N_VALVES, "valve", &n)) return;
    close_valve(n, t);
    ok_begin(name); out_sp(); out_u64(n); out_end();
  } else if (!strcmp(name, "OUT")) {
    NEED(2);
    if (!channel(name, argv[1], N_OUTPUTS, "output", &n)) return;
    if (strcmp(argv[2], "0") && strcmp(argv[2], "1")) { reply_err(name, E_RANGE, "level must be 0 or 1"); return; }
    out_level[n] = argv[2][0] == '1';
    digitalWrite(OUTPUT_PINS[n], out_level[n] ? HIGH : LOW);
    ok_begin(name); out_sp(); out_u64(n); out_sp(); out_str(argv[2]); out_end();
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
    all_off(t);
    ok_begin(name); out_end();
  } else if (!strcmp(name, "STATUS")) {
    NEED(0);
    uint8_t vm = 0, om = 0, im = 0;
    for (uint8_t i = 0; i < N_VALVES; i++) vm |= valve_open[i] << i;
    for (uint8_t i = 0; i < N_OUTPUTS; i++) om |= out_level[i] << i;
    for (uint8_t i = 0; i < N_INPUTS; i++) im |= in_level[i] << i;
    ok_begin(name); out_sp(); out_u64(vm); out_sp(); out_u64(om); out_sp(); out_u64(im); out_sp();
    out_u64(wdog_us / 1000UL); out_sp(); out_u64(streaming); out_end();
  } else {
    reply_err(name, E_UNKNOWN, "unknown command");
  }
#undef NEED
}

void read_host(uint64_t t) {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\r') continue;
    if (c == '\n') {
      last_host_us = t;  // any line, even a bad one, shows the host is alive
      tripped = false;
      if (rx_overflow) {
        reply_err("?", E_LONG, "line longer than 64 characters");
      } else if (rx_len) {
        rx[rx_len] = 0;
        handle_line(rx, t);
      }
      rx_len = 0;
      rx_overflow = false;
    } else if (rx_len < MAX_LINE) {
      rx[rx_len++] = c;
    } else {
      rx_overflow = true;
    }
  }
}

void scan_inputs(uint64_t t) {
  for (uint8_t n = 0; n < N_INPUTS; n++) {
    uint8_t v = read_input(n);
    if (v == in_level[n]) { in_candidate[n] = v; continue; }
    if (v != in_candidate[n]) { in_candidate[n] = v; in_since[n] = t; continue; }
    if (t - in_since[n] >= DEBOUNCE_US) {
      in_level[n] = v;
      if (streaming) {
        event_begin(in_since[n]); out_str("IN "); out_u64(n); out_sp(); out_u64(v); out_end();
      }
    }
  }
}

void setup() {
  for (uint8_t n = 0; n < N_VALVES; n++) { pinMode(VALVE_PINS[n], OUTPUT); digitalWrite(VALVE_PINS[n], LOW); }
  for (uint8_t n = 0; n < N_OUTPUTS; n++) { pinMode(OUTPUT_PINS[n], OUTPUT); digitalWrite(OUTPUT_PINS[n], LOW); }
  for (uint8_t n = 0; n < N_INPUTS; n++) {
    pinMode(INPUT_PINS[n], INPUT_ACTIVE_LOW ? INPUT_PULLUP : INPUT);
    in_level[n] = in_candidate[n] = read_input(n);
  }
  Serial.begin(BAUD);
  uint64_t t = now_us();
  event_begin(t); out_str("BOOT "); out_str(IDENTITY); out_sp(); out_u64(PROTOCOL); out_sp();
  out_str(FIRMWARE); out_end();
}

void loop() {
  uint64_t t = now_us();
  read_host(t);
  for (uint8_t n = 0; n < N_VALVES; n++)
    if (valve_open[n] && t >= valve_close_at[n]) close_valve(n, valve_close_at[n]);
  scan_inputs(t);
  if (wdog_us && !tripped && t - last_host_us > wdog_us) {
    tripped = true;
    all_off(t);
    event_begin(t); out_str("WDOG"); out_end();
  }
  tx_pump();
}
