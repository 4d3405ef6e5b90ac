"""The ``gate-edge`` command line and the demos."""
