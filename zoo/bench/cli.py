"""``zoo bench`` (``python -m zoo.bench``): the command line of the benchmark harness."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from .jobs import (DATA_ENV_PREFIX, DATASET, Job, combination_jobs, dataset_roots, parse_shard,
                   select_presets, shard)
from .profiles import DEFAULT_PROFILE, PROFILES, Profile
from .run import DEFAULT_CARDS, DEFAULT_RESULTS, run_benchmark


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zoo bench", description=f"Train every registered preset on the built-in "
        f"{DATASET} dataset (and on each real dataset given) for the same budget and write the "
        f"leaderboard, the paper-scale cost table and the model cards.",
        epilog="Combinations: --max-combos N adds up to N backbone x temporal head jobs (one RGB "
        "stream, named combo:BACKBONE+HEAD) and backbone x head x fusion jobs (RGB + flow, "
        "combo:BACKBONE+HEAD+FUSION), filtered by --combos 'backbone=r3d_18,c3d;head=*;"
        "fusion=average;streams=1' (shell patterns, ';' between keys, ',' between patterns; a "
        "key left out matches all). Incompatible ones are skipped without a row. Use --presets '' "
        "for combinations only. Sharding: --shard 0/3, 1/3 and 2/3 on three machines split the "
        "jobs; merge with python -m zoo.bench.leaderboard --merge A.jsonl B.jsonl C.jsonl. Exit "
        "status: 0 when every job scored, 1 when any has a failed row, stored ones included (after "
        "writing every result), 2 on a usage error.")
    p.add_argument("--presets", default="*",
                   help="comma-separated preset names or shell patterns (default: all)")
    p.add_argument("--exclude", default="", help="comma-separated names or patterns to skip")
    p.add_argument("--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES),
                   help="the budget every preset gets (default: %(default)s)")
    p.add_argument("--combos", default="",
                   help="filter of the backbone x head (x fusion) combinations, e.g. "
                        "'backbone=r3d_18,c3d;head=*;fusion=average;streams=1,2' (see below)")
    p.add_argument("--max-combos", type=int, default=0,
                   help="run at most N combinations (default 0: presets only)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=FOLDER",
                   help="also benchmark the registered dataset NAME read from FOLDER (repeat for "
                        f"several; {DATA_ENV_PREFIX}<NAME>=FOLDER variables do the same)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only shard I of N (0 <= I < N): every N-th job, deterministically")
    types = {"float": float, "int": int, "str": str}
    for field in dataclasses.fields(Profile):
        if field.name == "name":
            continue
        flag, what = f"--{field.name.replace('_', '-')}", field.name.replace("_", " ")
        if str(field.type) == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                           help=f"turn the profile's {what} on or off")
        else:
            p.add_argument(flag, type=types.get(str(field.type), int),
                           help=f"override the profile's {what}")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="folder of the results stores and leaderboard (default: %(default)s)")
    p.add_argument("--cards", type=Path, default=DEFAULT_CARDS,
                   help="model cards file to regenerate (default: %(default)s)")
    p.add_argument("--no-cards", action="store_true", help="do not regenerate the model cards")
    p.add_argument("--no-cost", action="store_true",
                   help="do not measure the presets' cost at their paper's scale")
    p.add_argument("--force", action="store_true", help="run presets already stored again")
    p.add_argument("--force-cost", action="store_true",
                   help="measure the paper-scale cost of presets already measured again")
    p.add_argument("--retry-failed", action="store_true", help="run stored failures again")
    p.add_argument("--list", action="store_true", help="list the presets that would run and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def profile_from_args(args: argparse.Namespace) -> Profile:
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(Profile)
               if f.name != "name" and getattr(args, f.name, None) is not None}
    return dataclasses.replace(PROFILES[args.profile], **changes)


def _error(message: object) -> int:
    print(f"zoo: error: {message}", file=sys.stderr)
    return 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    from ..errors import ZooError
    from ..registry import current

    presets = select_presets(current().names("preset"), args.presets, args.exclude)
    jobs: List[Job] = [Job(p) for p in presets]
    try:
        if args.max_combos > 0:
            jobs += combination_jobs(args.combos, args.max_combos)
        jobs = shard(jobs, *parse_shard(args.shard))
        roots = dataset_roots(args.data)
        profile = profile_from_args(args)
    except (ValueError, ZooError) as exc:
        return _error(exc)
    if args.list or not jobs:
        if not jobs:
            return _error(f"no preset matches {args.presets!r} (zoo list presets shows them)")
        print("\n".join(j.name for j in jobs))
        return 0
    where = ", ".join([DATASET] + [f"{n} ({r})" for n, r in sorted(roots.items())])
    print(f"benchmarking {len(jobs)} jobs on {where}, profile {profile.key}: "
          f"{profile.describe()}")
    rows = run_benchmark(jobs, profile, args.results, None if args.no_cards else args.cards,
                         force=args.force, retry_failed=args.retry_failed,
                         progress=not args.quiet, roots=roots, cost=not args.no_cost,
                         force_cost=args.force_cost)
    names, datasets = {j.name for j in jobs}, {DATASET, *roots}
    ours = [r for r in rows if r.kind != "stream" and r.preset in names and r.dataset in datasets]
    failed = [r for r in ours if not r.ok]
    if failed:
        print(f"zoo: error: {len(failed)} of {len(ours)} jobs failed (their reasons are in the "
              f"Failed table above; --retry-failed runs them again)", file=sys.stderr)
    return 1 if failed else 0
