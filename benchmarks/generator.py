"""Speed and memory of the demo data generator.

Usage: ``python benchmarks/generator.py --customers 100000 [--seed 42] [--chunk-size 20000] [--out DIR]``.
Prints the seconds taken, the peak resident memory of the process (``resource.getrusage``), the rows written
per entity and the output size. Without ``--out`` the data go to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from orchestration.demo.generator import generate


def main(argv: list[str] | None = None) -> None:
    """Run the generator once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        started = time.perf_counter()
        summary = generate(out, customers=args.customers, seed=args.seed, chunk_size=args.chunk_size)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (
        1024 if sys.platform != "darwin" else 1024**2
    )
    total = sum(summary["rows"].values())
    print(f"customers        {args.customers:>12,}")
    print(f"seconds          {seconds:>12.1f}")
    print(f"peak RSS (MB)    {peak:>12.0f}")
    print(f"output (MB)      {size / 1e6:>12.0f}")
    print(f"files            {summary['files']:>12,}")
    print(f"bad rows         {summary['bad_rows']:>12,}")
    print(f"rows total       {total:>12,}  ({total / seconds:,.0f} rows/s)")
    for name, n in summary["rows"].items():
        print(f"  {name:<22} {n:>12,}")


if __name__ == "__main__":
    main()
