"""The console's colours: Nord's calm greys and frost blue; red and amber only for trouble."""

from __future__ import annotations

from textual.theme import Theme

SESSIONROOM_THEME = Theme(
    name="sessionroom",
    primary="#88C0D0",
    secondary="#B48EAD",
    accent="#88C0D0",
    foreground="#D8DEE9",
    background="#2E3440",
    success="#A3BE8C",
    warning="#EBCB8B",
    error="#BF616A",
    surface="#3B4252",
    panel="#434C5E",
    dark=True,
    variables={
        "block-cursor-background": "#88C0D0",
        "block-cursor-foreground": "#2E3440",
        "block-cursor-text-style": "none",
        "input-selection-background": "#81a1c1 35%",
        "button-color-foreground": "#2E3440",
        "button-focus-text-style": "reverse",
    },
)
