"""The data layer's errors: a refusal the user can act on, and a database too new for this code."""


class RegistryError(Exception):
    """A registry operation refused with a reason the user can act on (unknown id, duplicate…)."""


class SchemaTooNew(RegistryError):
    """The database was written by a newer gate-edge: refuse it (exit 2), never half-read it."""
