"""The office service: the archive, silent gates, the console."""
