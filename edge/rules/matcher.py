"""1:N face matching: every enrolled template in one float32 matrix, all people scored at once.

Templates are unit vectors, so the Euclidean distance is sqrt(2 - 2·cos) and one matrix product
scores a face against every template. A person's distance is their closest template. The decision
has three tiers:

    match      best person within ``tolerance`` and at least ``margin`` closer than the next person
    uncertain  within tolerance but too close to a second person: no decision from this frame
    unknown    nobody within tolerance (a stranger, once consensus agrees)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

MATCH, UNCERTAIN, UNKNOWN = "match", "uncertain", "unknown"


@dataclass(frozen=True)
class FaceMatch:
    tier: str
    person_id: int | None
    distance: float | None
    second_distance: float | None

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
        people, distances = self.person_distances(queries)
        results = []
        for row in distances:
            if row.size == 0:
                results.append(FaceMatch(UNKNOWN, None, None, None))
                continue
            if row.size == 1:
                best, second = 0, None
            else:
                two = np.argpartition(row, 1)[:2]
                best, second = (two[0], two[1]) if row[two[0]] <= row[two[1]] else (two[1], two[0])
            distance = float(row[best])
            second_distance = float(row[second]) if second is not None else None
            if distance > self.tolerance:
                tier = UNKNOWN
            elif second_distance is not None and second_distance - distance < self.margin:
                tier = UNCERTAIN
            else:
                tier = MATCH
            person = int(people[best]) if tier != UNKNOWN else None
            results.append(FaceMatch(tier, person, distance, second_distance))
        return results
