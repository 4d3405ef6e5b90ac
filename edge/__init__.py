"""gate-edge: the gate daemon (config, registry, pipeline, policy, events, MQTT, jobs, CLI)."""

__version__ = "0.1.0"
