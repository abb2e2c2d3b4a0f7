"""Text from files the suite does not control (results, entries, schemas), made safe to show anywhere."""

from __future__ import annotations

import unicodedata

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def visible(text: object, keep: str = "") -> str:
    r"""`text` with every character that is invisible, reorders its neighbours or is illegal in XML 1.0 written as a
    Python-style escape, so a name from a results file can neither hide, reorder nor break what surrounds it (an SVG,
    a Markdown report, a page). Characters in `keep` (e.g. newline in a multi-line error text) stay as they are.

    >>> visible("a\x00b\u202ec"), visible("tag\U000e0041"), visible("naïve 8×")
    ('a\\u0000b\\u202ec', 'tag\\U000e0041', 'naïve 8×')
    """
    text = str(text)
    if text.isprintable():  # the common case, checked in C: no control, format or separator character
        return text
    return "".join(
        (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        if c not in keep and (unicodedata.category(c) in HIDDEN_CATEGORIES or c in "\ufffe\uffff")
        else c
        for c in text
    )
