"""``python -m probes.entropy [names...] [--rows R] [--max-log2n K] [--head H]``: ``attnprobe entropy-table``."""
import sys

from probes.cli import main

raise SystemExit(main(["entropy-table", *sys.argv[1:]]))
