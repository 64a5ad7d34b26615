"""The names, units and meanings of everything in a session folder, declared once.

The writer, the loader, the NWB export and ``docs/data-format.md`` all take their column names
and descriptions from here (trials.csv columns from :class:`rigctl.protocols.trial.TrialRecord`),
and a test checks the doc's tables against these declarations and against a fresh session, so
the files and their description cannot drift apart. After changing a declaration,
``python -m rigctl.data --write-doc docs/data-format.md`` rewrites the doc's generated tables
(the prose stays as it is); ``python -m rigctl.data`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from rigctl.protocols.trial import column_docs

#: Version of the session folder layout, written to ``session.json`` as ``format_version``.
#: 1: session.json, trials.csv, events.csv (t_s, kind, name, value).
#: 2: events.csv gains ``device_t_s``; optional ``signals.bin``; ``provenance`` in session.json.
#: 3: ``crc`` column in trials.csv and events.csv; ``signals.crc``; ``session.start.json``;
#:    ``pid_start`` and ``crc32`` in session.json; the rig name in the folder name.
FORMAT_VERSION = 3


class Doc(NamedTuple):
    """A documented name: its unit ('' when none) and what it means."""

    name: str
    unit: str
    doc: str


EVENT_COLUMN_DOCS: tuple[Doc, ...] = (
    Doc("t_s", "s", "Session-clock time of the event (seconds since the session started)"),
    Doc("kind", "", "Event kind (see the table of kinds)"),
    Doc("name", "", "What the event is about: a state, an input, an output, ..."),
    Doc("value", "", "Kind-specific value (text)"),
    Doc("device_t_s", "s",
        "The device's own timestamp of an input, when the device has a clock; empty otherwise"),
)
EVENT_COLUMNS: tuple[str, ...] = tuple(d.name for d in EVENT_COLUMN_DOCS)
#: The last column of trials.csv and events.csv (format 3); the loader checks and drops it.
CRC_DOC = Doc("crc", "", "CRC-32 of the row's bytes before the comma that precedes this cell, "
                         "8 lowercase hex digits (see Integrity); not returned by the loader")

#: Every ``kind`` the engine, rig and protocols write, with the names and values it carries.
EVENT_KINDS: Mapping[str, str] = MappingProxyType({
    "state": "State entry. name: the state entered (iti, sample, delay, response, reward, "
             "timeout, paused); value empty",
    "input": "Input edge. name: the input (lick_left, lick_right, ...); value 1 rising, 0 falling",
    "output": "Output command, logged before it is sent. name: valve_left / valve_right (value "
              "'<open ms>ms'); cue_<cue> such as cue_trial_start, cue_go (1 on, 0 off); laser "
              "('<P>mW' on, '<P>mW <F>Hz x <W>s' pulsed, 'off ramp <R>s' off, 'off latched' "
              "emergency off without ramp); laser_sham "
              "('<P>mW (held off)', 'off'); all_off (the last event of every session)",
    "trial": "Trial boundary. name start (value '<n> <trial_type> delay=<s>') or end (value "
             "'<n> <outcome>')",
    "sync": "Sync line edge, logged before the line is set (docs/sync.md). name: sync (value 1 "
            "rising, 0 falling), sync_trial (the trial-start TTL, 1/0) or sync_barcode (value: "
            "the trial number whose barcode starts)",
    "params": "An operator changed a protocol parameter; it applies from the next trial. "
              "name: the parameter; value: '<old> -> <new>'",
    "session": "Operator control of the session. name: paused or resumed; value empty",
    "warning": "Something the analysis should know that did not stop the session. name: the "
               "input (neural_signal), or stall (the control loop ran late on the wall clock: "
               "the host was not running); value: what happened (e.g. a gap in the signal, how "
               "late the loop was)",
    "interlock": "A safety interlock acted. name: the device (laser), or laser_latch for the "
                 "operator's emergency laser-off (value 'latched off (<who>)', 'pressed again "
                 "(<who>): still latched off', 're-armed (<who>)', '<P>mW refused: latched off')"
                 "; value: what happened",
    "error": "An error ended the session or an output failed to turn off. name: the exception "
             "type or all_off; value: the message",
})

#: Values of ``status`` in ``session.json``.
STATUSES: Mapping[str, str] = MappingProxyType({
    "running": "The session is being written (or its process died: the loader then reports "
               "crashed)",
    "completed": "All trials ran; outputs off",
    "aborted": "Stopped early (Ctrl-C, SIGTERM, GUI stop, error); outputs off; every completed "
               "trial kept; reason says why",
    "crashed": "The process died without closing the session; written by `rigctl recover`, or "
               "reported by the loader for a `running` session whose process is gone",
    "damaged": "Never written: reported by the loader when part of the folder is damaged "
               "(`SessionData.damage` lists each part, `recorded_status` says how the session "
               "ended); stays so after `rigctl recover`, which keeps the list in `recovered`",
})

#: Channels of ``signals.bin`` that rigctl knows. Other channel names are allowed (unit a.u.).
SIGNAL_CHANNELS: Mapping[str, Doc] = MappingProxyType({
    "neural_signal": Doc("neural_signal", "a.u.",
                         "Neural signal as acquired (photometry channel), normalised activity"),
    "calcium": Doc("calcium", "a.u.",
                   "Astrocytic Ca²⁺ predicted in real time by the astrocyte model (normalised)"),
    "gliotransmission": Doc("gliotransmission", "a.u.",
                            "Gliotransmitter level predicted in real time by the astrocyte model"),
    "laser_mw": Doc("laser_mw", "mW",
                    "Laser power commanded at the fibre tip (0 when off, follows the ramp-down; "
                    "0 in sham mode)"),
})
DEFAULT_SIGNAL_UNIT = "a.u."

#: Top-level keys of ``session.json``. ``(optional)`` keys may be absent.
SESSION_KEYS: Mapping[str, str] = MappingProxyType({
    "format_version": "Layout version of the folder (this doc: 3); a newer one is refused",
    "rigctl_version": "Version of rigctl that wrote the session",
    "subject": "id, genotype (wt, ip3r2_ko), treatment (none, saline, cno)",
    "protocol": "name, source (file or rig config it came from), sha256 of the protocol file "
                "('' when it came from the rig config), parameters (every value, defaults "
                "included)",
    "rig": "Snapshot of the validated rig config (devices, ports, calibration, laser, cues, "
           "neural signal, interlocks)",
    "config_source": "Path of the rig config file as given",
    "seed": "Random seed of the session (simulated mouse and trial schedule)",
    "clock": "virtual (simulation) or wall (real time)",
    "provenance": "rigctl version, git commit and dirty flag of a checkout (null when not run "
                  "from one), Python and package versions, platform, command line, and the "
                  "exact text and sha256 of the rig config (and protocol) files",
    "status": "running, completed, aborted or crashed (see the status table)",
    "pid": "Process ID of the writer (tells a crashed session from a running one)",
    "pid_start": "'<boot id>:<start ticks>' of the writer process (Linux; null elsewhere): a "
                 "later process that got the same pid is not taken for the writer",
    "host": "Host name of the writer",
    "start_time": "Wall-clock time (ISO 8601, with UTC offset) the session folder was created",
    "end_time": "Wall-clock time the session was closed; null while running",
    "n_trials": "Trials written (rows of trials.csv)",
    "reason": "Why the session ended early ('' when completed)",
    "trial_schema": "The task's declared trial record: name, unit, doc and dtype of every "
                    "trials.csv column, in order (the loader types the columns from it); a "
                    "categorical column's declared `levels` and its `role` (`outcome` or "
                    "`condition`) where the task declares them (sessions written before have "
                    "neither: a column named `outcome` is the outcome, `trial_type` the "
                    "condition)",
    "agent": "The simulated subject (auto, working_memory, generic or an agent file); null on "
             "real hardware",
    "analog_inputs": "(optional) The rig's named analog inputs, by name: file "
                     "(analog_<name>.bin), channel, rate_hz, unit, description",
    "recovered": "(optional) Written by `rigctl recover`: when, by which rigctl, what was "
                 "dropped (bytes per file, and each damaged row or block in `damage`), where "
                 "the metadata came from (`metadata_from`)",
    "duration_s": "(optional) The session was set to end after this much session time "
                  "(`--duration`, an experiment's `duration_s`); it then ends `completed`",
    "timing": "(optional) Wall-clock sessions only: how late the control loop answered, "
              "measured by the session itself (`rigctl.timing.lateness`): `input_to_output` "
              "(every input edge: clock when its state handler had returned, outputs "
              "commanded, minus the edge's time stamp) and `timer_late` (every timer: clock "
              "when its callback started minus its deadline), each `{n, p50_ms, p99_ms, "
              "max_ms}` from 10 µs bins (`resolution_ms`: percentiles are their bin's upper "
              "edge, never below the true value); absent in virtual time, where both are zero",
    "frames": "(optional) Frames recorded per frame-clock input (rising edges in "
              "frames_<input>.bin), e.g. {\"frame_clock\": 54012}",
    "crc32": "CRC-32 (8 hex digits) of the JSON text of all the other keys; always last",
})


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def generated_tables() -> dict[str, list[str]]:
    """The doc's generated tables (Markdown lines), by the heading they sit under."""
    def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
        return [_row(*head), _row(*("---",) * len(head))] + [_row(*r) for r in rows]

    return {
        "trials.csv columns": table(("column", "unit", "description"),
                                    [(f"`{n}`", u, d) for n, u, d in (*column_docs(), CRC_DOC)]),
        "events.csv columns": table(("column", "unit", "description"),
                                    [(f"`{d.name}`", d.unit, d.doc)
                                     for d in (*EVENT_COLUMN_DOCS, CRC_DOC)]),
        "Event kinds": table(("kind", "meaning"), [(f"`{k}`", v) for k, v in EVENT_KINDS.items()]),
        "Session status": table(("status", "meaning"),
                                [(f"`{k}`", v) for k, v in STATUSES.items()]),
        "Signal channels": table(("channel", "unit", "description"),
                                 [(f"`{d.name}`", d.unit, d.doc)
                                  for d in SIGNAL_CHANNELS.values()]),
        "session.json keys": table(("key", "description"),
                                   [(f"`{k}`", v) for k, v in SESSION_KEYS.items()]),
    }


def markdown_tables() -> str:
    """The generated tables, each under its heading, as Markdown."""
    return "\n\n".join(f"### {h}\n\n" + "\n".join(t) for h, t in generated_tables().items())


def update_doc(path: str) -> None:
    """Replace each generated table of the doc at ``path`` (the first table under its
    heading) with the current declarations; the prose around them is left alone."""
    tables = generated_tables()
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    pending: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip().strip("`")
            pending = heading if heading in tables else None
        if line.startswith("|") and pending is not None:
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            out += tables[pending]
            pending = None
            continue
        out.append(line)
        i += 1
    Path(path).write_text("\n".join(out), encoding="utf-8")

