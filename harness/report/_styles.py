"""One look per runtime, the same in every chart: a distinct colour, marker and line style.

Runtimes are never pooled into "on" / "off": each SUT gets its own entry of :data:`STYLES`, in
the report's row order (:func:`harness.report._matrix.sut_order`: checkpointing SUTs first, then
the off ones), so a checkpointing SUT and its twin never share a colour. Checkpointing-off SUTs
are drawn dashed, on ones solid; markers differ for every SUT, so lines that lie on top of each
other (runtimes that waste exactly the same) still show each runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from harness.report._matrix import sut_order

__all__ = ["LineStyle", "runtime_styles"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


LineKind = Literal["-", "--", "-."]
"""Solid: checkpointing on; dashed: off; dash-dotted: on, with resumable calls (``-resume``)."""


@dataclass(frozen=True)
class LineStyle:
    colour: str
    marker: str
    linestyle: LineKind


def runtime_styles(suts: Iterable[str], checkpointing: Mapping[str, bool]
                   ) -> dict[str, LineStyle]:
    """SUT -> its style; distinct colours and markers for up to ten SUTs (then they repeat)."""
    ordered = sut_order(suts, checkpointing)
    return {sut: LineStyle(_COLOURS[i % len(_COLOURS)], _MARKERS[i % len(_MARKERS)],
                           _linestyle(sut, checkpointing.get(sut, True)))
            for i, sut in enumerate(ordered)}


def _linestyle(sut: str, checkpointing: bool) -> LineKind:
    """Solid on, dashed off, dash-dotted for checkpointing with resumable calls (``-resume``)."""
    if not checkpointing:
        return "--"
    return "-." if sut.endswith("-resume") else "-"
