# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test creates each sanity test's virtual environment without pip and runs this
script in it as ``python get_pip_<version>.py [pip install options] pip==<version>
--no-setuptools --no-wheel``. Here pip comes from the interpreter's own ensurepip, then
installs the requested packages from the package index; ci-files is not needed.
`make sanity` places this file in ansible-test's cache (under .cache/sanity).
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py's own options: leave these packages out.
GET_PIP_ONLY = {"--no-setuptools": "setuptools", "--no-wheel": "wheel"}


def main(argv: list[str]) -> int:
    # In a child process: ensurepip empties the PIP_* settings of the process it runs in
    # (PIP_CONFIG_FILE=/dev/null), and the install below needs the machine's pip.conf.
    subprocess.run([sys.executable, "-m", "ensurepip"], check=True, stdout=subprocess.DEVNULL)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "install", *(a for a in argv if a not in GET_PIP_ONLY)], check=True)
    # ensurepip of Python < 3.12 installs setuptools as well.
    installed = subprocess.run(
        [*pip, "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    present = {line.split("==")[0].lower() for line in installed.split()}
    remove = [GET_PIP_ONLY[flag] for flag in argv if GET_PIP_ONLY.get(flag) in present]
    if remove:
        subprocess.run([*pip, "uninstall", "--yes", "--quiet", *remove], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
