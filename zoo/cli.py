"""The `zoo` command line: list, describe, plugins, build, bench, and the engine's commands."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import List, Optional

from .errors import ZooError
from .registry import KINDS, current


def cmd_list(args) -> int:
    kinds = [args.kind] if args.kind else [k + "s" for k in KINDS]
    for kind in kinds:
        names = current().names(kind, args.pattern)
        if len(kinds) > 1:
            print(f"{kind} ({len(names)}):")
            shown = names if len(names) <= 40 or args.all else names[:40] + [
                f"... {len(names) - 40} more (zoo list {kind} PATTERN)"]
            for n in shown:
                print(f"  {n}")
        else:
            print("\n".join(names))
    return 0


def cmd_describe(args) -> int:
    from .introspect import describe

    print(describe(args.name))
    return 0


def cmd_plugins(args) -> int:
    """Import every entry point, then list each distribution's with its state: a broken one
    shows its error, a name that several distributions declare says so, and a decorator that
    disagrees with the entry points (another name, no entry point) is a problem line; exit 1 if
    one failed or disagrees."""
    registry = current()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every problem is printed below
        registry.load_all()
    reports = registry.plugins()
    for rep in reports:
        print(f"{rep.source} {rep.version}".rstrip())
        for kind, name, state, error in rep.entries:
            print(f"  {kind:13s} {name:28s} {state}" + (f": {error}" if error else ""))
        for problem in rep.problems:
            print(f"  problem: {problem}")
    if not reports:
        print("no distribution declares zoo entry points; is zoo installed (pip install -e .)?")
    return 1 if any(rep.failed or rep.problems for rep in reports) else 0


def cmd_build(args) -> int:
    import yaml

    from .builder import build
    from .engine.commands import parse_overrides
    from .tensors import count_parameters

    model = build(args.model, num_classes=args.num_classes, **parse_overrides(args.set))
    params = count_parameters(model)
    print(model.spec)
    print(f"parameters: {params:,}")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            yaml.safe_dump(model.config, f, sort_keys=False)
        print(f"config written to {args.dump}")
    return 0


def cmd_bench(args, rest: List[str]) -> int:
    from .bench import main as bench_main

    return bench_main(rest) or 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo", description="A plugin-based model zoo for video classification.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list registered components: zoo list backbones 'resnet*'")
    s.add_argument("kind", nargs="?", help="backbones, temporal_heads, fusions, presets, datasets")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard")
    s.add_argument("--all", action="store_true", help="do not shorten long lists")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("describe", help="paper, inputs, parameters and config of a preset or component")
    s.add_argument("name")
    s.set_defaults(func=cmd_describe)

    s = sub.add_parser("plugins", help="installed plugin distributions, each entry point imported "
                                       "and its state shown (errors, name clashes)")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("build", help="build a model and print its spec")
    s.add_argument("model", help="preset name or YAML config")
    s.add_argument("--num-classes", type=int)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. --set frames=16")
    s.add_argument("--dump", metavar="YAML", help="write the resolved config")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("bench", help="benchmark every registered preset (see zoo bench --help)", add_help=False)
    s.set_defaults(func=cmd_bench, passthrough=True)

    try:
        from .engine.commands import add_commands
    except ImportError:  # the engine's optional dependencies are missing
        pass
    else:
        add_commands(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args, rest = p.parse_known_args(argv)
    try:
        if getattr(args, "passthrough", False):
            return args.func(args, rest)
        if rest:
            p.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args) or 0
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `zoo list ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
