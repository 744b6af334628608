"""``RetryStrategy``: Batch's own retries (``retryStrategy``), built from named presets and checked before any call.

AWS Batch evaluates ``evaluateOnExit`` rules in order after a failed attempt: the first rule whose every given
condition matches decides (``RETRY`` or ``EXIT``); **no rule matching means retry** while attempts remain.
Patterns are 1..512 characters and the only wildcard is a trailing ``*`` (prefix match); ``onExitCode`` is digits.

Presets::

    RetryStrategy.spot_only(3)                      # retry Spot reclaims (Host EC2*), exit on anything else
    RetryStrategy.on_exit_codes([137, 143], 3)      # retry these exit codes, exit on others
    RetryStrategy.spot_and_exit_codes([137], 3)     # both
    RetryStrategy.exit_on_codes([2], 3)             # exit codes 2 is permanent, retry everything else
    RetryStrategy.always(3)                         # retry every failure

.. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .batch_rules import evaluate_on_exit, rule_matches
from .exceptions import BatchEksInvalidInputError

__all__ = ["RetryStrategy", "RetryRule", "SPOT_RECLAIM_PATTERN", "MAX_ATTEMPTS", "MAX_RULES"]

SPOT_RECLAIM_PATTERN = "Host EC2*"
MAX_ATTEMPTS = 10
MAX_RULES = 5
MAX_PATTERN_LENGTH = 512
_EXIT_CODE_RE = re.compile(r"^[0-9]+\*?$")
# AWS documents letters, digits, periods, colons and white space; the engine also accepts ()_/-[] seen in reasons.
_REASON_RE = re.compile(r"^[A-Za-z0-9 \t.:()_/\-\[\]]*\*?$")
_WIRE_KEYS = {"onStatusReason": "on_status_reason", "onReason": "on_reason", "onExitCode": "on_exit_code"}
_FIELD = "retry_strategy"


def _check_pattern(where: str, key: str, value: Any) -> str:
    field = f"{where}.{key}"
    if isinstance(value, int) and not isinstance(value, bool) and key == "onExitCode":
        value = str(value)
    if not isinstance(value, str):
        raise BatchEksInvalidInputError(field, value, "must be a string pattern.")
    if not 1 <= len(value) <= MAX_PATTERN_LENGTH:
        raise BatchEksInvalidInputError(field, value, f"must be 1 to {MAX_PATTERN_LENGTH} characters.")
    if "*" in value[:-1]:
        raise BatchEksInvalidInputError(
            field, value, "the only wildcard allowed is one trailing '*' (a prefix match)."
        )
    if key == "onExitCode" and not _EXIT_CODE_RE.match(value):
        raise BatchEksInvalidInputError(field, value, "must be digits only, optionally ending in '*'.")
    if key != "onExitCode" and not _REASON_RE.match(value):
        raise BatchEksInvalidInputError(
            field, value, "may contain letters, digits, periods, colons, white space and a trailing '*'."
        )
    return value


@dataclass(frozen=True)
class RetryRule:
    """One ``evaluateOnExit`` rule: every condition given must match for ``action`` to apply."""

    action: str
    on_status_reason: str | None = None
    on_reason: str | None = None
    on_exit_code: str | None = None

    @classmethod
    def from_api(cls, rule: Mapping[str, Any], where: str = f"{_FIELD}.evaluateOnExit[0]") -> "RetryRule":
        """Check a wire rule (``{"action", "onStatusReason", "onReason", "onExitCode"}``) and build it."""
        if not isinstance(rule, Mapping):
            raise BatchEksInvalidInputError(
                where, rule, "must be a dict with 'action' and at least one 'on...' pattern."
            )
        unknown = sorted(set(rule) - {"action", *_WIRE_KEYS})
        if unknown:
            raise BatchEksInvalidInputError(
                f"{where}.{unknown[0]}",
                rule[unknown[0]],
                "unknown key; use action, onStatusReason, onReason, onExitCode.",
            )
        action = rule.get("action")
        if not isinstance(action, str) or action.upper() not in ("RETRY", "EXIT"):
            raise BatchEksInvalidInputError(f"{where}.action", action, "must be RETRY or EXIT.")
        patterns = {
            _WIRE_KEYS[key]: _check_pattern(where, key, rule[key])
            for key in _WIRE_KEYS
            if rule.get(key) is not None
        }
        if not patterns:
            raise BatchEksInvalidInputError(
                where, dict(rule), "needs at least one of onStatusReason, onReason or onExitCode."
            )
        return cls(action=action.upper(), **patterns)

    def to_api(self) -> dict[str, str]:
        wire = {
            key: getattr(self, attr) for key, attr in _WIRE_KEYS.items() if getattr(self, attr) is not None
        }
        return {**wire, "action": self.action}

    def matches(self, *, exit_code: int | None, status_reason: str | None, reason: str | None) -> bool:
        """Whether this rule applies to a failed attempt (:func:`~batch_eks_provider.batch_rules.rule_matches`:
        an attempt with no exit code matches no ``onExitCode`` pattern)."""
        return rule_matches(self.to_api(), exit_code=exit_code, status_reason=status_reason, reason=reason)


def _codes(codes: Iterable[int | str], field: str) -> list[str]:
    if isinstance(codes, (str, int)):
        codes = [codes]
    result = []
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, (int, str)):
            raise BatchEksInvalidInputError(
                field, code, "exit codes are whole numbers such as 137, or digit prefixes such as '13*'."
            )
        result.append(_check_pattern(field, "onExitCode", str(code)).strip())
    if not result:
        raise BatchEksInvalidInputError(field, list(codes), "give at least one exit code.")
    return result


class RetryStrategy:
    """A validated AWS Batch ``retryStrategy``.

    :param attempts: Attempts in total, 1..10 (1 means no Batch retry).
    :param rules: ``evaluateOnExit`` rules, at most 5, as :class:`RetryRule` or wire dicts; first match wins.
    :raises BatchEksInvalidInputError: naming the field, the value and the rule broken.
    """

    def __init__(self, attempts: int, rules: Sequence[RetryRule | Mapping[str, Any]] = ()) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise BatchEksInvalidInputError(
                f"{_FIELD}.attempts", attempts, f"must be a whole number from 1 to {MAX_ATTEMPTS}."
            )
        if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Sequence):
            raise BatchEksInvalidInputError(f"{_FIELD}.evaluateOnExit", rules, "must be a list of rules.")
        if len(rules) > MAX_RULES:
            raise BatchEksInvalidInputError(
                f"{_FIELD}.evaluateOnExit", f"{len(rules)} rules", f"at most {MAX_RULES} rules are allowed."
            )
        checked = []
        for i, rule in enumerate(rules):
            if isinstance(rule, RetryRule):
                rule = rule.to_api()
            checked.append(RetryRule.from_api(rule, f"{_FIELD}.evaluateOnExit[{i}]"))
        self.attempts = attempts
        self.rules: tuple[RetryRule, ...] = tuple(checked)

    # -- presets -------------------------------------------------------------------------------------------
    @classmethod
    def spot_only(cls, attempts: int = 3) -> "RetryStrategy":
        """Retry only when the host was reclaimed (Spot), exit on every other failure (AWS's recommendation)."""
        return cls(
            attempts,
            [RetryRule("RETRY", on_status_reason=SPOT_RECLAIM_PATTERN), RetryRule("EXIT", on_reason="*")],
        )

    @classmethod
    def on_exit_codes(
        cls, codes: Iterable[int | str], attempts: int = 3, *, exit_on_others: bool = True
    ) -> "RetryStrategy":
        """Retry when a container exits with one of ``codes``; with ``exit_on_others`` every other failure exits."""
        retry = [RetryRule("RETRY", on_exit_code=c) for c in _codes(codes, f"{_FIELD}.codes")]
        return cls(attempts, retry + ([RetryRule("EXIT", on_reason="*")] if exit_on_others else []))

    @classmethod
    def spot_and_exit_codes(cls, codes: Iterable[int | str], attempts: int = 3) -> "RetryStrategy":
        """Retry Spot reclaims and the given exit codes (at most 3), exit on everything else."""
        retry = [RetryRule("RETRY", on_exit_code=c) for c in _codes(codes, f"{_FIELD}.codes")]
        return cls(
            attempts,
            [
                RetryRule("RETRY", on_status_reason=SPOT_RECLAIM_PATTERN),
                *retry,
                RetryRule("EXIT", on_reason="*"),
            ],
        )

    @classmethod
    def exit_on_codes(cls, codes: Iterable[int | str], attempts: int = 3) -> "RetryStrategy":
        """Exit (no Batch retry) on the given exit codes; retry every other failure."""
        return cls(attempts, [RetryRule("EXIT", on_exit_code=c) for c in _codes(codes, f"{_FIELD}.codes")])

    @classmethod
    def always(cls, attempts: int = 3) -> "RetryStrategy":
        """Retry every failure until ``attempts`` are used (no rules)."""
        return cls(attempts)

    @classmethod
    def from_api(cls, strategy: Mapping[str, Any]) -> "RetryStrategy":
        """Check a wire ``retryStrategy`` dict (``{"attempts", "evaluateOnExit"}``)."""
        if not isinstance(strategy, Mapping):
            raise BatchEksInvalidInputError(
                _FIELD, strategy, "must be a RetryStrategy or a dict with 'attempts'."
            )
        unknown = sorted(set(strategy) - {"attempts", "evaluateOnExit"})
        if unknown:
            raise BatchEksInvalidInputError(
                f"{_FIELD}.{unknown[0]}",
                strategy[unknown[0]],
                "unknown key; use attempts and evaluateOnExit.",
            )
        if "attempts" not in strategy:
            raise BatchEksInvalidInputError(f"{_FIELD}.attempts", None, "is required (1 to 10).")
        return cls(strategy["attempts"], strategy.get("evaluateOnExit") or [])

    @classmethod
    def coerce(cls, value: "RetryStrategy | Mapping[str, Any] | int") -> "RetryStrategy":
        """Accept a :class:`RetryStrategy`, a wire dict, or a number of attempts."""
        if isinstance(value, RetryStrategy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.always(value)
        return cls.from_api(value)

    # -- reading -------------------------------------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        """The wire ``retryStrategy`` dict for SubmitJob or RegisterJobDefinition."""
        wire: dict[str, Any] = {"attempts": self.attempts}
        if self.rules:
            wire["evaluateOnExit"] = [rule.to_api() for rule in self.rules]
        return wire

    def action_for(
        self, *, exit_code: int | None = None, status_reason: str | None = None, reason: str | None = None
    ) -> str:
        """``RETRY`` or ``EXIT`` as Batch decides it for one failed attempt (attempts left aside)."""
        wire = [rule.to_api() for rule in self.rules]
        return evaluate_on_exit(wire, exit_code=exit_code, status_reason=status_reason, reason=reason) or "RETRY"

    @property
    def permanent_exit_codes(self) -> frozenset[int]:
        """Exit codes named literally in an ``EXIT`` rule that Batch would exit on (no earlier rule retries them).

        The operator treats these as permanent: the task fails without Airflow retries.
        """
        named = {
            int(r.on_exit_code)
            for r in self.rules
            if r.action == "EXIT" and r.on_exit_code and r.on_exit_code.isdigit()
        }
        return frozenset(code for code in named if self.action_for(exit_code=code) == "EXIT")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryStrategy) and self.to_api() == other.to_api()

    def __hash__(self) -> int:
        return hash((self.attempts, self.rules))

    def __repr__(self) -> str:
        return f"RetryStrategy({self.to_api()!r})"
