"""Grammar-constrained CTC decoding: the best plate the recogniser's per-frame scores allow.

Greedy CTC decoding reads whatever characters score highest, so a faint province character is
dropped or read as a Latin letter and the result fails the grammar. Here the decoder searches the
best CTC path among strings the plate grammar allows (a province first, a letter second, the plate
alphabet after; 7 or 8 characters), so the province position is always filled with the province
the recogniser itself scores highest there. Nothing is added that the recogniser did not score.

Templates (one symbol class per position):
    P province   L letter (no I/O)   A plate alphabet   D digit   N new-energy mark   E A or ending
    standard / special   P L A A A A E    (E: the alphabet or 学 警 挂 港 澳 领)
    standard_plain       P L A A A A A    (used when the plate is known to be blue)
    new energy (small)   P L N A D D D D
    new energy (large)   P L D D D D D N
    embassy              S D D D D D D    (S: 使)

The plate colour, when known, narrows the templates (``TEMPLATES_BY_COLOR``): green is new energy
(8 characters), blue never has a special ending, only black carries 使/港/澳/领.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.plates import ALPHABET, DIGITS, LETTERS, NEV_MARKS, PROVINCES, SPECIAL_ENDINGS

CLASSES = {
    "P": PROVINCES,
    "L": LETTERS,
    "A": ALPHABET,
    "D": DIGITS,
    "N": NEV_MARKS,
    "E": ALPHABET + SPECIAL_ENDINGS,
    "S": "使",
}
TEMPLATES = {
    "standard": "PLAAAAE",
    "new_energy_small": "PLNADDDD",
    "new_energy_large": "PLDDDDDN",
    "embassy": "SDDDDDD",
    "standard_plain": "PLAAAAA",
}
# Without a colour every template but "standard_plain" (a narrower "standard") is tried.
ALL_TEMPLATES = ("standard", "new_energy_small", "new_energy_large", "embassy")
TEMPLATES_BY_COLOR = {
    "blue": ("standard_plain",),
    "yellow": ("standard",),
    "white": ("standard",),
    "black": ("standard", "embassy"),
    "green": ("new_energy_small", "new_energy_large"),
}
# Printed separators count as "no character" (the dot after the second character, dashes, spaces).
SEPARATORS = "·.-•・． "
# What the recogniser may emit for a plate symbol: case, full-width forms, and in the serial part
# the letters plates never use (I, O), which are 1 and 0 there.
SERIAL_ALIASES = {"0": "Oo", "1": "Il|"}
NEG = -1e9


def _same_symbol_maps(template: str) -> list[list[np.ndarray]]:
    """For position k and each symbol index j at k-1: indices at k holding the same symbol."""
    sets = [CLASSES[c] for c in template]
    maps = [[]]
    for k in range(1, len(sets)):
        where = {s: i for i, s in enumerate(sets[k])}
        maps.append([np.array([where[s]] if s in where else [], dtype=np.int64) for s in sets[k - 1]])
    return maps


_SAME = {name: _same_symbol_maps(template) for name, template in TEMPLATES.items()}


@dataclass(frozen=True)
class Decoded:
    text: str
    score: float  # mean log-probability per frame of the chosen path (comparable across templates)
    char_confidence: tuple[float, ...]
    template: str
    # The province position's candidates, most likely first, as (province, probability): filled by the
    # two-recogniser reading (models/plates.py), where the site's prior may be applied to an unsure one.
    provinces: tuple = ()

    @property
    def confidence(self) -> float:
        return float(min(self.char_confidence)) if self.char_confidence else 0.0


class PlateDecoder:
    """Built once per recogniser character list; ``decode(probs)`` per plate image."""

    def __init__(self, characters: list[str]):
        index = {c: i for i, c in enumerate(characters)}
        self._blank_cols = [0] + [index[c] for c in SEPARATORS if c in index]
        self._symbols: dict[tuple[str, bool], list[int]] = {}
        for symbol in set(PROVINCES + ALPHABET + SPECIAL_ENDINGS + "使"):
            for serial in (False, True):
                forms = {symbol, symbol.lower()}
                if symbol.isascii() and symbol.isalnum():
                    forms.add(chr(ord(symbol) + 0xFEE0))  # full-width
                if serial:
                    forms.update(SERIAL_ALIASES.get(symbol, ""))
                self._symbols[(symbol, serial)] = sorted(index[f] for f in forms if f in index)

    def _class_logp(self, probs: np.ndarray, symbols: str, serial: bool) -> np.ndarray:
        columns = [probs[:, self._symbols[(s, serial)]].sum(1) for s in symbols]
        return np.log(np.stack(columns, 1) + 1e-12)

    def decode(self, probs: np.ndarray, templates=None) -> Decoded:
        """Best plate over the templates (all, or the names given: see ``TEMPLATES_BY_COLOR``) for
        one (T, C) matrix of per-frame character probabilities."""
        blank = np.log(probs[:, self._blank_cols].sum(1) + 1e-12)
        cache: dict[tuple[str, bool], np.ndarray] = {}
        best = None
        for name, template in TEMPLATES.items():
            if name not in (templates or ALL_TEMPLATES):
                continue
            logps = []
            for position, cls in enumerate(template):
                key = (cls, position >= 2)
                if key not in cache:
                    cache[key] = self._class_logp(probs, CLASSES[cls], position >= 2)
                logps.append(cache[key])
            result = self._viterbi(blank, logps, template, _SAME[name])
            if result is not None and (best is None or result.score > best.score):
                best = Decoded(result.text, result.score, result.char_confidence, name)
        return best

    @staticmethod
    def _viterbi(blank: np.ndarray, logps: list[np.ndarray], template: str, same_maps) -> Decoded | None:
        """CTC Viterbi over a fixed number of positions, each with its own symbol class.

        States: ``B[k]`` = k characters emitted, now on a blank; ``A[k][c]`` = on the k-th character,
        symbol c. A character may repeat across frames; two equal neighbours need a blank between.
        """
        frames, length = len(blank), len(logps)
        if frames < length:
            return None
        sets = [CLASSES[c] for c in template]
        B = np.full(length + 1, NEG)
        A = [np.full(lp.shape[1], NEG) for lp in logps]
        B[0] = blank[0]
        A[0] = logps[0][0].copy()
        back_b = np.zeros((frames, length + 1), dtype=np.int64)
        back_a = [np.zeros((frames, lp.shape[1]), dtype=np.int64) for lp in logps]
        for t in range(1, frames):
            # Best and second-best symbol of every position at t-1, computed once for both updates.
            tops = []
            for k in range(length):
                if len(A[k]) > 1:
                    two = np.argpartition(A[k], -2)[-2:]
                    first, second = (two[1], two[0]) if A[k][two[1]] >= A[k][two[0]] else (two[0], two[1])
                else:
                    first = second = 0
                tops.append((int(first), int(second)))
            new_b = np.empty(length + 1)
            new_b[0] = B[0] + blank[t]
            back_b[t, 0] = -1
            for k in range(1, length + 1):
                j = tops[k - 1][0]
                if A[k - 1][j] > B[k]:
                    new_b[k], back_b[t, k] = A[k - 1][j] + blank[t], j
                else:
                    new_b[k], back_b[t, k] = B[k] + blank[t], -1
            new_a = []
            for k in range(length):
                stay = A[k]
                best = np.maximum(stay, B[k])
                code = np.where(stay >= B[k], -2, -1)
                if k > 0:
                    first, second = tops[k - 1]
                    direct = np.full(stay.shape, A[k - 1][first])
                    source = np.full(stay.shape, first, dtype=np.int64)
                    # Moving straight from symbol s to the same s would read as one character.
                    same = same_maps[k][first]
                    direct[same] = A[k - 1][second]
                    source[same] = second
                    better = direct > best
                    best = np.where(better, direct, best)
                    code = np.where(better, source, code)
                back_a[k][t] = code
                new_a.append(best + logps[k][t])
            B, A = new_b, new_a
        last = int(np.argmax(A[length - 1]))
        on_blank = B[length] >= A[length - 1][last]
        score = (B[length] if on_blank else A[length - 1][last]) / frames
        state = ("B", length, 0) if on_blank else ("A", length - 1, last)
        chars: list[str | None] = [None] * length
        confidence = [0.0] * length
        for t in range(frames - 1, -1, -1):
            kind, k, c = state
            if kind == "A":
                chars[k] = sets[k][c]
                confidence[k] = max(confidence[k], float(np.exp(logps[k][t, c])))
            if t == 0:
                break
            if kind == "B":
                source = back_b[t, k]
                state = ("B", k, 0) if source == -1 else ("A", k - 1, int(source))
            else:
                code = back_a[k][t, c]
                state = ("A", k, c) if code == -2 else (("B", k, 0) if code == -1 else ("A", k - 1, int(code)))
        if any(ch is None for ch in chars):
            return None
        return Decoded("".join(chars), float(score), tuple(confidence), template)


def log_likelihood(decoder: PlateDecoder, probs: np.ndarray, strings: list[str]) -> np.ndarray:
    """log P(text | probs) for each of several texts of one length: the CTC forward algorithm (every
    alignment summed, not only the best path), batched over the texts. Symbols are read with the same
    aliases as ``decode`` (position 2 on: 0/O, 1/I ...)."""
    frames, length = probs.shape[0], len(strings[0])
    columns: dict[tuple[str, bool], np.ndarray] = {}
    emit = np.empty((len(strings), frames, length))
    for n, text in enumerate(strings):
        for k, char in enumerate(text):
            key = (char, k >= 2)
            if key not in columns:
                columns[key] = np.log(probs[:, decoder._symbols[key]].sum(1) + 1e-12)
            emit[n, :, k] = columns[key]
    blank = np.log(probs[:, decoder._blank_cols].sum(1) + 1e-12)
    count = len(strings)
    codes = np.array([[ord(c) for c in text] for text in strings])
    skip = np.zeros((count, length), bool)
    skip[:, 1:] = codes[:, 1:] != codes[:, :-1]  # a blank may be skipped between two different symbols
    lead = np.full((count, 1), NEG)
    alpha = np.full((count, 2 * length + 1), NEG)
    alpha[:, 0] = blank[0]
    alpha[:, 1] = emit[:, 0, 0]
    for t in range(1, frames):
        on_blank, on_char = alpha[:, 0::2], alpha[:, 1::2]
        new = np.empty_like(alpha)
        new[:, 0::2] = np.logaddexp(on_blank, np.concatenate([lead, on_char], 1)) + blank[t]
        previous_char = np.where(skip, np.concatenate([lead, on_char[:, :-1]], 1), NEG)
        new[:, 1::2] = np.logaddexp(np.logaddexp(on_char, on_blank[:, :-1]), previous_char) + emit[:, t]
        alpha = new
    return np.logaddexp(alpha[:, -1], alpha[:, -2])


def position_posteriors(decoder: PlateDecoder, probs: np.ndarray, text: str, template: str) -> list[np.ndarray]:
    """For each position of ``text``: the probability of every symbol its template allows there, the
    other positions held fixed (the recogniser's own belief about that character, all alignments
    counted). All the substituted texts go through one batched forward pass."""
    sets = [CLASSES[c] for c in TEMPLATES[template]]
    strings = [text[:k] + s + text[k + 1:] for k, symbols in enumerate(sets) for s in symbols]
    ll = log_likelihood(decoder, probs, strings)
    out, start = [], 0
    for symbols in sets:
        part = ll[start:start + len(symbols)]
        start += len(symbols)
        p = np.exp(part - part.max())
        out.append(p / p.sum())
    return out
