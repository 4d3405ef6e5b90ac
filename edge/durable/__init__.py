"""Writing what happened so nothing is lost: store-or-keep-in-memory, sequence numbers, disk room."""
