"""Kubernetes' ``$(VAR)`` references in a container's command, args and env values (one rule for every runtime).

As kubelet expands them (and as Batch documents for ``EksContainer.command``/``args``):

- ``$(NAME)`` becomes the value of ``NAME`` in the container's environment;
- a reference to a name that is not defined stays as written (``$(NAME1)`` -> ``$(NAME1)``);
- ``$$`` becomes ``$`` and what follows is not expanded (``$$(NAME)`` -> ``$(NAME)``);
- a ``$`` before anything else, and an unterminated ``$(``, stay as written.

An env value may refer to variables defined before it in the list (and to the service variables).
"""

from __future__ import annotations

from typing import Iterable, Mapping

__all__ = ["expand", "expand_all", "expand_env"]


def expand(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with its ``$(VAR)`` references replaced from ``variables`` (see the module)."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 == n:
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end < 0:  # unterminated: the rest as written
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(variables[name] if name and name in variables else text[i : end + 1])
            i = end + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


def expand_all(items: Iterable[str] | None, variables: Mapping[str, str]) -> list[str] | None:
    """Each string expanded; None stays None (a command or args that was not given)."""
    return None if items is None else [expand(item, variables) for item in items]


def expand_env(entries: Iterable[Mapping[str, str]], service: Mapping[str, str]) -> dict[str, str]:
    """A container's ``env`` list as a dict, each value expanded from ``service`` and the entries before it;
    a later entry of the same name wins."""
    env: dict[str, str] = {}
    for entry in entries:
        value = entry.get("value") or ""
        env[entry["name"]] = expand(value, {**service, **env})
    return env
