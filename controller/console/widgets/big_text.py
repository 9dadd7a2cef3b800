"""Phase names in letters three rows tall, readable from across the room."""

from __future__ import annotations

GLYPHS: dict[str, tuple[str, str, str]] = {
    "A": ("┏━┓", "┣━┫", "╹ ╹"),
    "C": ("┏━╸", "┃  ", "┗━╸"),
    "E": ("┏━╸", "┣━ ", "┗━╸"),
    "G": ("┏━╸", "┃╺┓", "┗━┛"),
    "I": ("╺┳╸", " ┃ ", "╺┻╸"),
    "K": ("╻┏╸", "┣┫ ", "╹┗╸"),
    "N": ("┏┓╻", "┃┃┃", "╹┗┛"),
    "O": ("┏━┓", "┃ ┃", "┗━┛"),
    "P": ("┏━┓", "┣━┛", "╹  "),
    "R": ("┏━┓", "┣┳┛", "╹┗╸"),
    "T": ("╺┳╸", " ┃ ", " ╹ "),
    "U": ("╻ ╻", "┃ ┃", "┗━┛"),
}
"""The letters of centering, peak, return and integration."""
HEIGHT = 3


def big_text(word: str) -> tuple[str, str, str]:
    """Three rows spelling `word`; a letter without a glyph is written small in the middle row."""
    rows: tuple[list[str], list[str], list[str]] = ([], [], [])
    for letter in word.upper():
        glyph = GLYPHS.get(letter, (" ", letter, " "))
        for row, part in zip(rows, glyph, strict=True):
            row.append(part)
    top, middle, bottom = (" ".join(row) for row in rows)
    return top, middle, bottom


def big_width(word: str) -> int:
    return len(big_text(word)[0])
