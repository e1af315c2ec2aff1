"""The `isthmus-run` console script: execs the launcher binary shipped inside the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def binary_path() -> Path:
    # absolute(), not resolve(): in a build tree the .py files are symlinks to the sources
    return Path(os.path.abspath(__file__)).parent / "bin" / "isthmus-run"


def main() -> None:
    path = binary_path()
    if not os.access(path, os.X_OK):
        sys.stderr.write(
            f"isthmus-run: the launcher binary is missing at {path}; this build of the isthmus "
            "package was made without tools/launcher\n"
        )
        sys.exit(127)
    os.execv(str(path), [str(path), *sys.argv[1:]])


if __name__ == "__main__":
    main()
