"""Read a YAML file into plain data and remember the line of every key, for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Parsed YAML data plus the 1-based line of each dotted path, and structural problems found."""

    path: Path
    data: object
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int]] = field(default_factory=list)

    def line_of(self, loc: Path_) -> int:
        """Line of the longest prefix of ``loc`` that exists in the file (1 for the document)."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return 1


class YamlSyntaxError(ValueError):
    """The file is not YAML at all; carries the line where the parser stopped."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def read_yaml(path: Path) -> YamlSource:
    """Parse ``path``; raise YamlSyntaxError with a line number if it is not valid YAML."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        raise YamlSyntaxError(line, f"not valid YAML: {problem}") from None
    source = YamlSource(path=path, data=data)
    if node is not None:
        _walk(node, (), source)
    return source


def _walk(node: yaml.Node, prefix: Path_, source: YamlSource) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            here = (*prefix, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML silently keeps the last one; a technician editing in a hurry deserves to know.
                source.duplicates.append((here, line))
            seen.add(key)
            source.lines.setdefault(here, line)
            _walk(value_node, here, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*prefix, index)
            source.lines[here] = item.start_mark.line + 1
            _walk(item, here, source)
