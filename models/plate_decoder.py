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


def _same_symbol_table(template: str) -> np.ndarray:
    """``_same_symbol_maps`` as one array: [k, j] = the index at position k of the symbol that is
    index j at k-1, or -1 (no such symbol, or a padding column)."""
    sets = [CLASSES[c] for c in template]
    table = np.full((len(sets), max(len(s) for s in sets)), -1, dtype=np.int64)
    for k in range(1, len(sets)):
        where = {s: i for i, s in enumerate(sets[k])}
        for j, s in enumerate(sets[k - 1]):
            table[k, j] = where.get(s, -1)
    return table


_SAME_TABLE = {name: _same_symbol_table(template) for name, template in TEMPLATES.items()}


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

    def __init__(self, characters: list[str], loop: bool = False):
        """``loop``: the Viterbi search as it was when issue 30 was filed (one position at a time in
        Python), the benchmark's *today* and the tests' reference; the default searches every
        position of a frame in one array step and finds the same plate."""
        self.loop = loop
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
        # Every (symbol, serial) key's columns, grouped by how many forms it has, for one gather per group
        # (``symbol_logs``); a key the recogniser cannot emit gets a column of zeros.
        self._key = {}
        self._groups = []
        by_count: dict[int, list] = {}
        for key, cols in sorted(self._symbols.items()):
            by_count.setdefault(len(cols), []).append((key, cols))
        for _, members in sorted(by_count.items()):
            first = sum(len(keys) for keys, _ in self._groups)
            self._groups.append(([key for key, _ in members], np.array([cols for _, cols in members], np.int64)))
            for n, (key, _) in enumerate(members):
                self._key[key] = first + n
        self._class_keys = {(cls, serial): np.array([self._key[(s, serial)] for s in symbols], np.int64)
                            for cls, symbols in CLASSES.items() for serial in (False, True)}
        self._last = None

    def symbol_logs(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log P(blank or separator), (T, keys) log P(symbol) of every (symbol, serial) key: ``_key``) for
        one probability matrix, the same values as ``_class_logp``'s; kept for the last matrix asked
        about, which decoding, scoring and the posteriors of one plate share."""
        last = self._last
        if last is not None and last[0] is probs:
            return last[1], last[2]
        parts = []
        for _, cols in self._groups:
            parts.append(probs[:, cols].sum(2) if cols.shape[1] else np.zeros((len(probs), len(cols)), probs.dtype))
        logs = np.log(np.concatenate(parts, 1) + 1e-12)
        blank = np.log(probs[:, self._blank_cols].sum(1) + 1e-12)
        self._last = (probs, blank, logs)
        return blank, logs

    def _class_logp(self, probs: np.ndarray, symbols: str, serial: bool) -> np.ndarray:
        columns = [probs[:, self._symbols[(s, serial)]].sum(1) for s in symbols]
        return np.log(np.stack(columns, 1) + 1e-12)

    def decode(self, probs: np.ndarray, templates=None) -> Decoded:
        """Best plate over the templates (all, or the names given: see ``TEMPLATES_BY_COLOR``) for
        one (T, C) matrix of per-frame character probabilities."""
        if self.loop:
            blank = np.log(probs[:, self._blank_cols].sum(1) + 1e-12)
        else:
            blank, logs = self.symbol_logs(probs)
        cache: dict[tuple[str, bool], np.ndarray] = {}
        best = None
        for name, template in TEMPLATES.items():
            if name not in (templates or ALL_TEMPLATES):
                continue
            logps = []
            for position, cls in enumerate(template):
                key = (cls, position >= 2)
                if key not in cache:
                    cache[key] = (self._class_logp(probs, CLASSES[cls], position >= 2) if self.loop
                                  else logs[:, self._class_keys[key]])
                logps.append(cache[key])
            if self.loop:
                result = self._viterbi(blank, logps, template, _SAME[name])
            else:
                result = _viterbi_frames(blank, logps, template, _SAME_TABLE[name])
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
        return _read_back(B[length], A[length - 1], logps, sets, back_b, lambda t, k, c: back_a[k][t, c], template)


def _viterbi_frames(blank: np.ndarray, logps: list[np.ndarray], template: str, same: np.ndarray) -> Decoded | None:
    """``PlateDecoder._viterbi``, every position of a frame in one array step: the same states, the
    same arithmetic (float32 where the loop's is), the same ties (the first best symbol), the same
    plate. States are padded to the largest symbol class with -inf, which never wins."""
    frames, length = len(blank), len(logps)
    if frames < length:
        return None
    sizes = [lp.shape[1] for lp in logps]
    emit = np.full((frames, length, same.shape[1]), -np.inf)
    for k, lp in enumerate(logps):
        emit[:, k, :sizes[k]] = lp
    rows, inner = np.arange(length), np.arange(1, length)
    pad = np.isneginf(emit[0])
    blanks = np.full(length + 1, NEG)
    chars = np.where(pad, -np.inf, NEG)
    blanks[0] = blank[0]
    chars[0] = emit[0, 0]
    back_b = np.zeros((frames, length + 1), dtype=np.int64)
    back_b[:, 0] = -1
    # The character states' pointers, kept compact (issue 30: fewer array steps a frame) and unfolded only
    # along the path read back: whether a state came from the previous position (``better``; then from
    # its best symbol, or its runner-up where the best is the same symbol) or else stayed / left the blank.
    firsts = np.zeros((frames, length), dtype=np.int64)
    seconds = np.zeros((frames, length), dtype=np.int64)
    betters = np.zeros((frames, length, same.shape[1]), dtype=bool)
    stays = np.zeros((frames, length, same.shape[1]), dtype=bool)
    for t in range(1, frames):
        first = chars.argmax(1)
        top = chars[rows, first]
        others = chars.copy()
        others[rows, first] = -np.inf
        second = others.argmax(1)
        runner_up = others[rows, second]
        new_b = np.empty(length + 1)
        new_b[0] = blanks[0] + blank[t]
        take = top > blanks[1:]
        new_b[1:] = np.where(take, top, blanks[1:]) + blank[t]
        if t == 1 and take[0]:
            new_b[1] = np.float32(top[0]) + blank[t]  # the loop adds two float32 values here
        back_b[t, 1:] = np.where(take, first, -1)
        stay_b = blanks[:length, None]
        best = np.maximum(chars, stay_b)
        np.greater_equal(chars, stay_b, out=stays[t])
        direct = np.empty(chars.shape)
        direct[0] = -np.inf
        direct[1:] = top[:-1, None]
        # Moving straight from symbol s to the same s would read as one character: the runner-up instead.
        twin = same[inner, first[:-1]]
        has = twin >= 0
        direct[inner[has], twin[has]] = runner_up[:-1][has]
        better = np.greater(direct, best, out=betters[t])
        firsts[t] = first
        seconds[t] = second
        chars = np.where(better, direct, best)
        chars += emit[t]
        blanks = new_b

    def back_a(t, k, c):
        if betters[t, k, c]:
            source = firsts[t, k - 1]
            return int(seconds[t, k - 1]) if same[k, source] == c else int(source)
        return -2 if stays[t, k, c] else -1

    sets = [CLASSES[c] for c in template]
    return _read_back(blanks[length], chars[length - 1], logps, sets, back_b, back_a, template)


def _read_back(end_blank: float, end_chars: np.ndarray, logps: list[np.ndarray], sets: list[str],
               back_b: np.ndarray, back_a, template: str) -> Decoded | None:
    """The plate the Viterbi search's best final state names, read back along its pointers (both searches':
    ``back_b[t, k]`` for the blank states, ``back_a(t, k, c)`` for the character states: -2 stayed, -1 came
    from the blank, else the previous position's symbol), each character as sure as its surest frame."""
    frames, length = len(back_b), len(logps)
    last = int(np.argmax(end_chars))
    ends_blank = end_blank >= end_chars[last]
    score = (end_blank if ends_blank else end_chars[last]) / frames
    state = ("B", length, 0) if ends_blank else ("A", length - 1, last)
    text: list[str | None] = [None] * length
    confidence = [0.0] * length
    for t in range(frames - 1, -1, -1):
        kind, k, c = state
        if kind == "A":
            text[k] = sets[k][c]
            confidence[k] = max(confidence[k], float(np.exp(logps[k][t, c])))
        if t == 0:
            break
        if kind == "B":
            source = back_b[t, k]
            state = ("B", k, 0) if source == -1 else ("A", k - 1, int(source))
        else:
            code = back_a(t, k, c)
            state = ("A", k, c) if code == -2 else (("B", k, 0) if code == -1 else ("A", k - 1, int(code)))
    if any(ch is None for ch in text):
        return None
    return Decoded("".join(text), float(score), tuple(confidence), template)


def log_likelihood(decoder: PlateDecoder, probs: np.ndarray, strings: list[str]) -> np.ndarray:
    """log P(text | probs) for each of several texts of one length: the CTC forward algorithm (every
    alignment summed, not only the best path), batched over the texts. Symbols are read with the same
    aliases as ``decode`` (position 2 on: 0/O, 1/I ...)."""
    frames, length = probs.shape[0], len(strings[0])
    if decoder.loop:
        columns: dict[tuple[str, bool], np.ndarray] = {}
        emit = np.empty((len(strings), frames, length))
        for n, text in enumerate(strings):
            for k, char in enumerate(text):
                key = (char, k >= 2)
                if key not in columns:
                    columns[key] = np.log(probs[:, decoder._symbols[key]].sum(1) + 1e-12)
                emit[n, :, k] = columns[key]
        blank = np.log(probs[:, decoder._blank_cols].sum(1) + 1e-12)
    else:
        blank, logs = decoder.symbol_logs(probs)
        keys = np.array([[decoder._key[(char, k >= 2)] for k, char in enumerate(text)] for text in strings])
        emit = logs[:, keys].transpose(1, 0, 2).astype(np.float64)
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
    counted). One forward and one backward pass over ``text`` give every substituted text's
    likelihood at once (``_substituted_log_likelihoods``); with a ``loop`` decoder (issue 30's
    *today*), every substituted text goes through its own row of one batched forward pass."""
    sets = [CLASSES[c] for c in TEMPLATES[template]]
    if decoder.loop:
        strings = [text[:k] + s + text[k + 1:] for k, symbols in enumerate(sets) for s in symbols]
        ll = log_likelihood(decoder, probs, strings)
        parts, start = [], 0
        for symbols in sets:
            parts.append(ll[start:start + len(symbols)])
            start += len(symbols)
    else:
        table = _substituted_log_likelihoods(decoder, probs, text, sets)
        parts = [table[k, :len(symbols)] for k, symbols in enumerate(sets)]
    out = []
    for part in parts:
        p = np.exp(part - part.max())
        out.append(p / p.sum())
    return out


def _substituted_log_likelihoods(decoder: PlateDecoder, probs: np.ndarray, text: str, sets: list[str]) -> np.ndarray:
    """[k, j] = log P(text with its k-th character replaced by sets[k][j] | probs) (CTC, all alignments;
    -inf past a position's symbols). Every path emits character k over some frames t1..t2: before
    them it is a path of the unchanged prefix (the forward pass over ``text``), after them one of the
    unchanged suffix (the backward pass); the two join character k directly, without a blank, only
    where the neighbour is another symbol. Equal to ``log_likelihood`` of each substituted text up
    to rounding."""
    frames, length = probs.shape[0], len(text)
    width = max(len(symbols) for symbols in sets)
    blank, logs = decoder.symbol_logs(probs)
    blank = blank.astype(np.float64)
    emit = logs[:, [decoder._key[(char, k >= 2)] for k, char in enumerate(text)]].astype(np.float64)  # (T, L)
    states = 2 * length + 1
    # Forward (alpha) and backward (beta) log-probabilities over text's CTC states: 2i the blank before
    # character i (2L the last blank), 2i+1 character i; beta includes its own frame's emission.
    skip = np.zeros(states, bool)
    skip[3::2] = [text[i] != text[i - 1] for i in range(1, length)]  # character i reached from i-1 directly
    state_emit = np.empty((frames, states))
    state_emit[:, 0::2] = blank[:, None]
    state_emit[:, 1::2] = emit
    alpha = np.full((frames, states), -np.inf)
    beta = np.full((frames, states), -np.inf)
    alpha[0, :2] = state_emit[0, :2]
    beta[-1, -2:] = state_emit[-1, -2:]
    lead = np.full(2, -np.inf)
    for t in range(1, frames):
        previous = np.concatenate([lead, alpha[t - 1]])
        moved = np.logaddexp(previous[2:], previous[1:-1])
        moved = np.where(skip, np.logaddexp(moved, previous[:-2]), moved)
        alpha[t] = moved + state_emit[t]
        following = np.concatenate([beta[frames - t], lead])
        back = np.logaddexp(following[:-2], following[1:-1])
        # From character i (state 2i+1) straight on to character i+1 (state 2i+3) when they differ.
        back[:-2] = np.where(skip[2:], np.logaddexp(back[:-2], following[2:-2]), back[:-2])
        beta[frames - 1 - t] = back + state_emit[frames - 1 - t]
    # Entering character k at frame t1 / leaving it after frame t2, with and without the direct step
    # (used when the substituted symbol differs from the neighbour).
    enter_blank = np.full((frames, length), -np.inf)
    enter_char = np.full((frames, length), -np.inf)
    enter_blank[1:] = alpha[:-1, 0:-1:2]
    enter_char[1:, 1:] = alpha[:-1, 1:-2:2]
    enter_blank[0, 0] = 0.0
    leave_blank = np.full((frames, length), -np.inf)
    leave_char = np.full((frames, length), -np.inf)
    leave_blank[:-1] = beta[1:, 2::2]
    leave_char[:-1, :-1] = beta[1:, 3::2]
    leave_blank[-1, -1] = 0.0
    symbol_emit = np.full((frames, length, width), -np.inf)
    direct_in = np.zeros((length, width), bool)
    direct_out = np.zeros((length, width), bool)
    for k, symbols in enumerate(sets):
        symbol_emit[:, k, :len(symbols)] = logs[:, [decoder._key[(s, k >= 2)] for s in symbols]]
        direct_in[k, :len(symbols)] = [k > 0 and s != text[k - 1] for s in symbols]
        direct_out[k, :len(symbols)] = [k < length - 1 and s != text[k + 1] for s in symbols]
    enter = np.where(direct_in, np.logaddexp(enter_blank, enter_char)[:, :, None], enter_blank[:, :, None])
    leave = np.where(direct_out, np.logaddexp(leave_blank, leave_char)[:, :, None], leave_blank[:, :, None])
    # Character k held from t1 to t2 emits sum(emit[t1..t2]) = run[t2] - run[t1 - 1]: every (t1, t2)
    # summed with two cumulative passes instead of a loop over the frames.
    real = np.isfinite(symbol_emit[0])
    run = np.cumsum(np.where(real, symbol_emit, 0.0), axis=0)
    before = np.concatenate([np.zeros((1, length, width)), run[:-1]])
    inside = run + np.logaddexp.accumulate(enter - before, axis=0)
    return np.where(real, np.logaddexp.reduce(inside + leave, axis=0), -np.inf)
