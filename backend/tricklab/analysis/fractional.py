"""Two-level fractional factorial designs at a requested resolution, with their alias structure.

pyDOE3 builds the design matrix from a generator string (``fracfact``); the generators
are chosen here because ``pyDOE3.fracfact_by_res`` never uses the word of all base
factors and so cannot build e.g. the 2^(5-1) resolution V design (e = abcd).
Words are frozensets of factor indices; multiplying two words is their symmetric
difference (every factor squares to the identity).
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

import numpy as np
import pyDOE3

Word = frozenset[int]

ROMAN = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}

# The largest number of factors a 2^(n-p) design with k base factors holds at each resolution
# (Box, Hunter & Hunter table 6.22); picking k from these avoids searching for impossible fractions.
_MAX_FACTORS_RES5 = {4: 5, 5: 6, 6: 8, 7: 11, 8: 17, 9: 23, 10: 33}


class FractionError(ValueError):
    """No fraction of this many factors exists at this resolution (smaller than the full factorial)."""


@dataclass(frozen=True)
class Fraction:
    """A chosen fraction: base factors, generator words and the resulting design."""

    n_factors: int
    n_base: int
    generators: tuple[Word, ...]  # generators[j] defines factor n_base + j
    defining_relation: tuple[Word, ...]
    resolution: int

    @property
    def matrix(self) -> np.ndarray:
        """The design in -1/+1 coding, rows in pyDOE3's standard order."""
        letters = string.ascii_letters
        gen = [letters[i] for i in range(self.n_base)]
        gen += ["".join(letters[i] for i in sorted(w)) for w in self.generators]
        return np.asarray(pyDOE3.fracfact(" ".join(gen)), dtype=float)

    def aliases_of(self, effect: Word, max_order: int) -> list[Word]:
        """Effects (up to ``max_order`` factors) confounded with ``effect``, lowest order first."""
        out = {effect ^ w for w in self.defining_relation}
        out = {a for a in out if 0 < len(a) <= max_order}
        return sorted(out, key=lambda a: (len(a), sorted(a)))


def min_base_factors(n: int, resolution: int) -> int:
    """The fewest base factors (log2 of the runs) a resolution-``resolution`` fraction of ``n`` factors needs."""
    for k in range(resolution - 1, n + 1):
        if resolution <= 3:
            cap = 2**k - 1
        elif resolution == 4:
            cap = 2 ** (k - 1)
        else:
            cap = _MAX_FACTORS_RES5.get(k, 2**k)
        if n <= cap:
            return k
    return n


def _defining_relation(gens: list[Word], n_base: int) -> list[Word]:
    words: list[Word] = []
    full = [g | {n_base + j} for j, g in enumerate(gens)]
    for r in range(1, len(full) + 1):
        for combo in itertools.combinations(full, r):
            w: Word = frozenset()
            for c in combo:
                w = w ^ c
            words.append(w)
    return words


def _search(n: int, k: int, resolution: int) -> list[Word] | None:
    """Depth-first search for generators; longest words first gives low aberration in practice."""
    candidates = [
        frozenset(c) for r in range(k, resolution - 2, -1) for c in itertools.combinations(range(k), r) if r >= 2
    ]
    need = n - k
    chosen: list[Word] = []

    def ok(new: Word) -> bool:
        # a new generator multiplies every existing defining word; all products must stay long enough
        idx = k + len(chosen)
        base_words: list[Word] = [frozenset(), *_defining_relation(chosen, k)]
        return all(len(w ^ new ^ {idx}) >= resolution for w in base_words)

    def go(start: int) -> bool:
        if len(chosen) == need:
            return True
        for i in range(start, len(candidates)):
            if ok(candidates[i]):
                chosen.append(candidates[i])
                if go(i + 1):
                    return True
                chosen.pop()
        return False

    return chosen if go(0) else None


def fraction(n: int, resolution: int) -> Fraction:
    """The smallest 2^(n-p) fraction of ``n`` factors with resolution at least ``resolution``."""
    if n < 3:
        raise FractionError(f"a fraction needs at least 3 two-level factors, got {n}")
    k = min_base_factors(n, resolution)
    while k < n:
        gens = _search(n, k, resolution)
        if gens is not None:
            rel = _defining_relation(gens, k)
            return Fraction(n, k, tuple(gens), tuple(rel), min(len(w) for w in rel))
        k += 1
    raise FractionError(
        f"no fraction of {n} two-level factors has resolution {ROMAN.get(resolution, resolution)}: "
        f"only the full 2^{n} factorial does (use design: full, a lower resolution, or at least {resolution} factors)"
    )
