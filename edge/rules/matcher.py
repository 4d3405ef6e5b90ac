"""1:N face matching: every enrolled template in one float32 matrix, all people scored at once.

Templates are unit vectors, so the Euclidean distance is sqrt(2 - 2·cos) and one matrix product
scores a face against every template. A person's distance is their closest template. The decision
has three tiers:

    match      best person within ``tolerance`` and at least ``margin`` closer than the next person
    uncertain  within tolerance but too close to a second person: no decision from this frame
    unknown    nobody within tolerance (a stranger, once consensus agrees)

A match's ``distance`` is on the scale of the network that decided it (``FaceMatch.by``): the encoder's
full template (``TEMPLATE``, what ``tolerance`` is about), or a cascade's first network alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

MATCH, UNCERTAIN, UNKNOWN = "match", "uncertain", "unknown"
TEMPLATE = "template"  # FaceMatch.by: the encoder's full template decided


@dataclass(frozen=True)
class FaceMatch:
    tier: str
    person_id: int | None
    distance: float | None
    second_distance: float | None
    # Whose distances these are: TEMPLATE (the full template, the scale of the matcher's tolerance), or the
    # name of the cascade's first network that decided alone (``first_stage``; its own scale and band).
    by: str = TEMPLATE

    @property
    def matched(self) -> bool:
        return self.tier == MATCH


class FaceMatcher:
    """Holds one encoder's templates; ``refresh`` reloads them when the registry's revision moves."""

    def __init__(self, tolerance: float, margin: float):
        self.tolerance = tolerance
        self.margin = margin
        self._lock = threading.Lock()
        self.revision = None
        self._set_arrays(np.zeros((0, 1), np.float32), np.zeros(0, np.int64))

    def _set_arrays(self, matrix: np.ndarray, person_ids: np.ndarray) -> None:
        order = np.argsort(person_ids, kind="stable")
        ids = person_ids[order]
        people, starts = np.unique(ids, return_index=True)
        with self._lock:
            self._matrix = np.ascontiguousarray(matrix[order], dtype=np.float32)
            self._people = people
            self._starts = starts

    def load(self, template_set) -> None:
        """Take all templates of a ``registry.TemplateSet`` (rows already unit vectors)."""
        self._set_arrays(template_set.matrix, template_set.person_ids)
        self.revision = template_set.revision

    def refresh(self, store, encoder: str) -> bool:
        """Reload from the registry if templates changed since the last load; True when reloaded."""
        revision = store.templates.revision()
        if revision == self.revision:
            return False
        self.load(store.templates.template_set(encoder))
        return True

    @property
    def size(self) -> int:
        return len(self._matrix)

    def person_distances(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(people, distances[k, n_people]): each query's distance to each person's closest template."""
        with self._lock:
            matrix, people, starts = self._matrix, self._people, self._starts
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if len(people) == 0:
            return people, np.zeros((len(queries), 0), np.float32)
        similarity = queries @ matrix.T
        best_similarity = np.maximum.reduceat(similarity, starts, axis=1)
        return people, np.sqrt(np.clip(2.0 - 2.0 * best_similarity, 0.0, None))

    def match(self, queries: np.ndarray) -> list[FaceMatch]:
        """One FaceMatch per query row."""
        results = []
        for best, distance, second_distance in self._best_two(queries):
            if best is None:
                results.append(FaceMatch(UNKNOWN, None, None, None))
                continue
            if distance > self.tolerance:
                tier = UNKNOWN
            elif second_distance is not None and second_distance - distance < self.margin:
                tier = UNCERTAIN
            else:
                tier = MATCH
            results.append(FaceMatch(tier, best if tier != UNKNOWN else None, distance, second_distance))
        return results

    def first_stage(self, queries: np.ndarray, cascade, *, by: str) -> list[FaceMatch | None]:
        """A cascade's first network's decision per query (``models.faces.Cascade``): MATCH when the best
        person is within ``accept_below`` and ``accept_margin`` closer than the next, UNKNOWN when nobody
        is within ``reject_above``, None when unsure (the full template must decide). ``by``: the first
        network's name, which the decisions carry (their distances are its own)."""
        results = []
        for best, distance, second_distance in self._best_two(queries):
            if best is None or distance > cascade.reject_above:
                results.append(FaceMatch(UNKNOWN, None, distance, second_distance, by))
            elif distance <= cascade.accept_below and (
                    second_distance is None or second_distance - distance >= cascade.accept_margin):
                results.append(FaceMatch(MATCH, best, distance, second_distance, by))
            else:
                results.append(None)
        return results

    def _best_two(self, queries: np.ndarray) -> list[tuple[int | None, float | None, float | None]]:
        """(best person, their distance, the next person's distance) per query row."""
        people, distances = self.person_distances(queries)
        out = []
        for row in distances:
            if row.size == 0:
                out.append((None, None, None))
                continue
            if row.size == 1:
                best, second = 0, None
            else:
                two = np.argpartition(row, 1)[:2]
                best, second = (two[0], two[1]) if row[two[0]] <= row[two[1]] else (two[1], two[0])
            out.append((int(people[best]), float(row[best]), float(row[second]) if second is not None else None))
        return out


def identify(engine, matcher: FaceMatcher, rgb: np.ndarray, roi=None, *, faces=None) -> list[tuple]:
    """(face, FaceMatch) for every face ``engine`` (``models.faces.FaceEngine``) finds in a frame: the one
    matching rule of the gate and of ``gate-edge identify``. ``faces``: already found in ``rgb`` and not
    encoded (a still searched thoroughly, ``gate-edge identify``); without them the engine's frame
    detector finds them in ``roi``.

    With an encoder that has a ``cascade`` (``ensemble-yunet``, issue 30) only its first network runs for
    every face; the others run for the faces whose first match is unsure, and the full template decides
    those with the matcher's tolerance and margin. Faces decided by the first network have no template:
    their ``likeness`` (what strangers are grouped by) is the first network's vector, for every face alike.
    Each FaceMatch says whose distance it carries (``by``: the first network's name or TEMPLATE).
    The cascade's band is fitted at the encoder's own tolerance and margin: with a site's own
    (``recognition.face.tolerance`` / ``margin``) the full template decides every face, at the site's.
    """
    encoder = engine.encoder
    cascade = getattr(encoder, "cascade", None)
    if (matcher.tolerance, matcher.margin) != (encoder.tolerance, encoder.margin):
        cascade = None
    if faces is None:
        faces = engine.analyze(rgb, roi, encode=False)
    if not faces:
        return []
    if cascade is None:
        for face in faces:
            face.template = face.likeness = encoder.encode(rgb, face)
        return list(zip(faces, matcher.match(np.stack([f.template for f in faces]))))
    queries = np.stack([encoder.first_query(rgb, face) for face in faces])
    found = []
    for face, query, first in zip(faces, queries, matcher.first_stage(queries, cascade, by=encoder.first_network)):
        face.likeness = query / max(float(np.linalg.norm(query)), 1e-9)
        face.extras["escalated"] = first is None
        if first is None:
            face.template = encoder.encode(rgb, face)
            [first] = matcher.match(face.template[None])
        found.append((face, first))
    return found
