"""(being written)"""


def routes(kit) -> list:
    return []
