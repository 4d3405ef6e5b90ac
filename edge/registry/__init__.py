"""People, vehicles, passes: enrolment, CSV import, query (the CLI, the console and the portal call these)."""
