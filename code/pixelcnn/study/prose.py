"""The values a chapter's prose quotes: ``Prose``, a findings object of formatted strings that the prose names
bare (`` `{python} q1_answer.test_bpd` ``), so that no sentence computes and every value is formatted once, in the
package, where its claim is checked.
"""

from __future__ import annotations

from types import SimpleNamespace


class Prose(SimpleNamespace):
    """Named, formatted values: every attribute a string (a number formatted as the sentence quotes it)."""

    def __init__(self, **values: str) -> None:
        wrong = sorted(name for name, value in values.items() if not isinstance(value, str))
        if wrong:
            raise TypeError(f"prose values are formatted strings; not: {', '.join(wrong)}")
        super().__init__(**values)


def words(items: list[str], empty: str = "none") -> str:
    """A list as prose: "a, b and c" (``empty`` when there is nothing)."""
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
