"""Voting across the plate recognisers: each recogniser's grammatical proposals for one plate, and the
one text they all score best among those proposals and their position-by-position mixtures, with each
character as sure as the median of the recognisers' beliefs in it (docs/plate-accuracy.md).

A view is (decoder, probabilities, weight): one recogniser's CTC probabilities for the plate, its
grammar decoder (models/plate_decoder.py) and how much its log-likelihood counts
(models/plate_recognizers.py).
"""

from __future__ import annotations

import itertools

import numpy as np

from models.plate_decoder import CLASSES, TEMPLATES, Decoded, PlateDecoder, log_likelihood, position_posteriors

# A plate judged green is read as new energy (8 characters) unless the 7-character layout reads
# clearly better (mean log-probability per CTC frame higher by this much): a blue or black plate
# under a green cast. Measured (bench.plate_bench): hard set 193 -> 195 exact, real scenes 66 -> 68,
# no more wrong readings.
GREEN_MARGIN = 0.1
# Candidates that differ in more positions than this are not mixed position by position.
MAX_MIXED = 4
# A province some recogniser's training is skewed to (models/manifest.json province_skew) is as sure as the
# recognisers together make it only when an unskewed recogniser gives it at least this (issue 31).
PROVINCE_AGREE = 0.5


def propose(decoder: PlateDecoder, probs: np.ndarray, templates, color) -> list[Decoded]:
    """One recogniser's grammatical readings: the best under the colour's templates, and for a
    "green" plate also the 7-character one (a blue or black plate under a green cast)."""
    found = [decoder.decode(probs, templates)]
    if color == "green":
        found.append(decoder.decode(probs, ("standard",)))
    return [d for d in found if d is not None]


def _padded(skews, n: int) -> list:
    """One skew per view (None for a view not given one)."""
    return (list(skews) + [None] * n)[:n]


def skewed_alone(province: str, symbols: str, province_posteriors, skews) -> float | None:
    """The province's confidence when it is the province some recogniser's training is skewed to
    (``skews``, one per view: models/manifest.json ``province_skew``, None for an unskewed one) and no
    unskewed recogniser agrees (gives it at least PROVINCE_AGREE): the most an unskewed recogniser
    believes in it, so unsure (below PROVINCE_CLEAR: the site's province may replace it). None: the
    province stands as voted (no skewed recogniser's own province, or an unskewed one agrees)."""
    skews = _padded(skews, len(province_posteriors))
    if province not in skews:
        return None
    k = symbols.index(province)
    unskewed = [float(p[k]) for p, skew in zip(province_posteriors, skews) if skew is None]
    if any(p >= PROVINCE_AGREE for p in unskewed):
        return None
    return max(unskewed, default=0.0)


def combine(views, proposals: list[Decoded], color, skews=()) -> Decoded:
    """The best text among the recognisers' proposals and their position-by-position mixtures, scored
    by every recogniser (``views``: decoder, probabilities, weight); each character's confidence is
    the median of the recognisers' posteriors for it (the rest of the text held fixed): two of
    three must believe a character for it to be sure. The province's candidates are the product
    of the posteriors, normalised; but a recogniser skewed to one province (``skews``, one per view,
    the province or None) does not vote that province alone: without an unskewed recogniser's
    agreement it is unsure (``skewed_alone``)."""
    templates = {}
    for d in proposals:
        templates.setdefault(d.text, d.template)
    for a, b in itertools.combinations(list(templates), 2):
        if len(a) != len(b) or templates[a] != templates[b]:
            continue
        differ = [i for i in range(len(a)) if a[i] != b[i]]
        if len(differ) > MAX_MIXED:
            continue
        for pick in itertools.product((False, True), repeat=len(differ)):
            mixed = list(a)
            for i, from_b in zip(differ, pick):
                if from_b:
                    mixed[i] = b[i]
            templates.setdefault("".join(mixed), templates[a])

    frames = len(views[0][1])
    scores = {}
    for length in {len(t) for t in templates}:
        texts = [t for t in templates if len(t) == length]
        values = sum(weight * log_likelihood(decoder, probs, texts) for decoder, probs, weight in views)
        if color == "green" and length == 7:
            values = values - GREEN_MARGIN * frames  # green reads as new energy unless 7 is clearly better
        scores.update(zip(texts, values.tolist()))
    text = max(scores, key=scores.get)
    template, best = templates[text], scores[text] / frames
    posteriors = [position_posteriors(decoder, probs, text, template) for decoder, probs, _ in views]
    symbols = [CLASSES[c] for c in TEMPLATES[template]]
    confidence = [float(np.median([p[k][s.index(ch)] for p in posteriors]))
                  for k, (s, ch) in enumerate(zip(symbols, text))]
    provinces: tuple = ()
    if TEMPLATES[template][0] == "P":
        joint = np.prod([p[0] for p in posteriors], axis=0)
        joint = joint / max(joint.sum(), 1e-30)
        order = np.argsort(-joint)
        provinces = tuple((symbols[0][i], float(joint[i])) for i in order[:5])
        alone = skewed_alone(provinces[0][0], symbols[0], [p[0] for p in posteriors], skews)
        if alone is not None:
            # The skewed recognisers' say is not trusted here: the province read stays, as sure as the unskewed
            # recognisers believe it, and the other candidates (which the site's province may be) are theirs.
            unskewed = [p[0] for p, skew in zip(posteriors, _padded(skews, len(posteriors))) if skew is None]
            others = np.prod(unskewed, axis=0) if unskewed else np.ones(len(symbols[0]))
            others = others / max(others.sum(), 1e-30)
            first = order[0]
            provinces = ((symbols[0][first], min(provinces[0][1], alone)),
                         *((symbols[0][i], float(others[i])) for i in np.argsort(-others) if i != first))[:5]
        text = provinces[0][0] + text[1:]
        confidence[0] = provinces[0][1]
    return Decoded(text, best, tuple(confidence), template, provinces)


def alone(decoder: PlateDecoder, probs: np.ndarray, decoded: Decoded) -> Decoded:
    """One recogniser's reading on its own (the cascade's first look, models.plate_crop_reader): each
    character as sure as that recogniser's posterior for it (the rest of the text held fixed), the
    province's candidates its posteriors there."""
    posteriors = position_posteriors(decoder, probs, decoded.text, decoded.template)
    symbols = [CLASSES[c] for c in TEMPLATES[decoded.template]]
    confidence = tuple(float(p[s.index(ch)]) for p, s, ch in zip(posteriors, symbols, decoded.text))
    provinces: tuple = ()
    if TEMPLATES[decoded.template][0] == "P":
        order = np.argsort(-posteriors[0])
        provinces = tuple((symbols[0][i], float(posteriors[0][i])) for i in order[:5])
    return Decoded(decoded.text, decoded.score, confidence, decoded.template, provinces)
