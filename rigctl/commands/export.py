"""``rigctl export SESSION_DIR --nwb [OUT]``: write a session as an NWB file.

The NWB file holds the trials, laser epochs and command, the neural signal and predictor traces,
licks, valve openings, states, the whole event log, the subject, and the protocol, rig config and
provenance (see docs/data-format.md). It needs the ``nwb`` extra: pip install 'rigctl[nwb]'.
"""

from __future__ import annotations

import argparse
import warnings

from rigctl.errors import RigctlError

NAME = "export"
HELP = "export a session folder (NWB)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_DIR", help="session folder")
    p.add_argument("--nwb", nargs="?", const="", default=None, metavar="OUT",
                   help="write NWB to OUT (default: <SESSION_DIR>/<subject>_<session>.nwb)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    g = p.add_argument_group("metadata rigctl does not record (written into the NWB file)")
    g.add_argument("--age", help="subject age, ISO 8601 duration, e.g. P12W (default: "
                                 "unknown, written as P0D/)")
    g.add_argument("--date-of-birth", dest="date_of_birth", help="subject birth date YYYY-MM-DD")
    g.add_argument("--sex", choices=["M", "F", "U", "O"], help="subject sex (default U)")
    g.add_argument("--strain", help="subject strain, e.g. C57BL/6J")
    g.add_argument("--experimenter", help="who ran the session, e.g. 'Last, First'")
    g.add_argument("--institution", help="institution")
    g.add_argument("--lab", help="lab")


def run(args: argparse.Namespace) -> int:
    if args.nwb is None:
        raise RigctlError(f"{args.session}: choose an export format: --nwb [OUT]")
    from rigctl.data.nwb import export_nwb

    extra = {k: getattr(args, k) for k in ("age", "date_of_birth", "sex", "strain",
                                           "experimenter", "institution", "lab")}
    with warnings.catch_warnings():
        # pynwb/hdmf chatter (e.g. about optional fields) is not the user's business here;
        # nwbinspector is the judge of the file.
        warnings.simplefilter("ignore")
        path = export_nwb(args.session, args.nwb or None, overwrite=args.force, extra=extra)
    print(f"nwb: {path}")
    if not (args.age or args.date_of_birth):
        print("note: subject age not given (written as unknown, P0D/); pass --age P12W or "
              "--date-of-birth to record it")
    return 0
