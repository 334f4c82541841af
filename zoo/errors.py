"""Errors raised by zoo. Each message names the thing at fault and suggests a fix."""
from __future__ import annotations

import difflib
from typing import Iterable


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""


class UnknownComponentError(ZooError, KeyError):
    """A name that no registered component of that kind carries."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        self.kind, self.name = kind, name
        known = list(dict.fromkeys(known))
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        msg = f"unknown {kind} {name!r}"
        msg += f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        if kind != "kind":  # the registry names the kinds in `hint`
            listing = "zoo list" if kind == "component" else f"zoo list {kind}s"
            msg += f" See `{listing}` for every registered {kind}."
        if hint:
            msg += " " + hint
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]

    def while_building(self, where: str) -> "UnknownComponentError":
        """The same error, saying which build (of a preset, config or file) met the name."""
        error = UnknownComponentError.__new__(UnknownComponentError)
        error.kind, error.name = self.kind, self.name
        Exception.__init__(error, f"building {where}: {self.args[0]} If that {self.kind} comes "
                                  f"from a plugin, install the plugin (`zoo plugins` lists the "
                                  f"installed ones).")
        return error


class AmbiguousComponentError(ZooError, KeyError):
    """Two distributions register the same name for one kind."""

    def __init__(self, kind: str, name: str, sources: Iterable[str]):
        sources = sorted(sources)
        alternatives = " or ".join(f"'{s}:{name}'" for s in sources)
        super().__init__(
            f"{kind} {name!r} is registered by {len(sources)} distributions "
            f"({', '.join(sources)}); ask for {alternatives}, or uninstall one of them."
        )

    def __str__(self) -> str:
        return self.args[0]


class PluginLoadError(ZooError):
    """A plugin's entry point failed to import; the rest of zoo keeps working."""


class IncompatibleError(ZooError, ValueError):
    """Components that cannot be combined; raised by `zoo.build` before any forward pass."""


class ConfigError(ZooError, ValueError):
    """A model config or override that zoo cannot read."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """' Did you mean ...?' for the closest of `choices`, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
