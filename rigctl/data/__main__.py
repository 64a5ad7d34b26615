"""``python -m rigctl.data [--write-doc docs/data-format.md]``: print the data-format tables
generated from the declarations, or rewrite them in the doc (after a column or kind changes)."""

from __future__ import annotations

import argparse

from rigctl.data.schema import markdown_tables, update_doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rigctl.data", description=__doc__)
    ap.add_argument("--write-doc", metavar="PATH", help="rewrite the generated tables in PATH")
    args = ap.parse_args(argv)
    if args.write_doc:
        update_doc(args.write_doc)
        print(f"updated {args.write_doc}")
    else:
        print(markdown_tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
