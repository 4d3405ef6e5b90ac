"""The gate daemon: wiring, camera workers, credential processors, the gate's decisions, jobs."""
