"""Pure domain rules, no I/O: access policy, parking and fees, permits, plate voting and matching,
consensus, face matching."""
