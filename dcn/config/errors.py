"""The one exception a bad config raises: it names the key, the file and the line."""
from __future__ import annotations

from typing import Optional


class ConfigError(ValueError):
    """Unknown/misspelled key, wrong type, bad value or unreadable config file."""

    def __init__(self, message: str, key: Optional[str] = None, file: Optional[str] = None,
                 line: Optional[int] = None) -> None:
        self.message, self.key, self.file, self.line = message, key, file, line
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}" if self.line is not None else str(self.file)
        head = f"{where}: " if where else ""
        key = f"key '{self.key}': " if self.key else ""
        return f"{head}{key}{self.message}"

    def located(self, file: Optional[str], line: Optional[int]) -> "ConfigError":
        """A copy with file/line filled in (keeps what is already known)."""
        return ConfigError(self.message, self.key, self.file or file,
                           self.line if self.line is not None else line)
