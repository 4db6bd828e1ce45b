#!/usr/bin/env python3
"""Extract selected collections from the `ansible` community wheel.

Ansible Galaxy is not always reachable (air-gapped CI, sandboxes), but PyPI is:
the `ansible` wheel bundles every community collection under
``ansible_collections/<namespace>/<name>/``. This script copies only the
requested collections out of the wheel into a collections path.

Usage: extract_collections.py WHEEL DEST namespace/name [namespace/name ...]
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path, PurePosixPath


def extract(wheel: Path, dest: Path, collections: list[str]) -> dict[str, int]:
    """Copy each requested collection from ``wheel`` below ``dest``; return file counts."""
    counts = {name: 0 for name in collections}
    prefixes = {name: f"ansible_collections/{name}/" for name in collections}
    dest = dest.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            for name, prefix in prefixes.items():
                if not member.filename.startswith(prefix) or member.is_dir():
                    continue
                relative = PurePosixPath(member.filename[len("ansible_collections/") :])
                target = (dest / relative).resolve()
                if dest not in target.parents:
                    raise ValueError(f"refusing to extract outside {dest}: {member.filename}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
                counts[name] += 1
    missing = [name for name, count in counts.items() if count == 0]
    if missing:
        raise SystemExit(f"{wheel.name} does not contain: {', '.join(missing)}")
    return counts


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    counts = extract(Path(argv[1]), Path(argv[2]), argv[3:])
    for name, count in counts.items():
        print(f"{name}: {count} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
