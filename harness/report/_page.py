"""The report as documents: one :class:`ReportPage` rendered to HTML and to Markdown.

HTML: one self-contained file with inline CSS and no scripts; charts are PNG files beside it,
referenced by relative path (so the directory can be uploaded as one artifact and opened from disk).
Markdown: GitHub-flavoured, fit for a PR comment or ``$GITHUB_STEP_SUMMARY``: the status, the
headline and the tables named in ``ReportPage.markdown_tables``, not the charts (relative images do
not resolve there); it points at the HTML for the rest.

Both open with the first screen: the status (passed or failed, failed trials, their properties
and timelines), the counts (trials; scenario tests passed, failed, skipped with reasons, expected
failures) and the environment, the runtime x fault matrix and a short glossary; then the money
charts, the headline (one line per scenario) and the tables.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from harness.report._charts import Chart
from harness.report._display import DisplayTable
from harness.report._overview import Overview
from harness.report._status import FailedTrial, RunStatus

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1360px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.headline { font-size: 1.05rem; background: #eef5fb; border-left: 4px solid #1f77b4;
            padding: 0.6rem 1rem 0.6rem 2rem; }
.status { font-size: 1.15rem; font-weight: bold; padding: 0.6rem 1rem; }
.passed { background: #e8f5e9; border-left: 4px solid #2e7d32; }
.failed { background: #fdecea; border-left: 4px solid #c62828; }
.meta, .note, figcaption { color: #555; font-size: 0.9rem; }
.overview { margin: 0.4rem 0; padding-left: 1.2rem; }
.matrix td { white-space: pre; font-size: 0.78rem; }
.matrix td.bad { background: #fdecea; }
.matrix td.seen { background: #fff8e1; }
.glossary { font-size: 0.85rem; color: #333; columns: 2; column-gap: 2rem; }
.glossary div { break-inside: avoid; } .glossary dt { font-weight: bold; }
.glossary dd { margin: 0 0 0.4rem 0; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.88rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0 2rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
"""


@dataclass(frozen=True)
class ReportPage:
    """A report, in reading order: status, headline, money charts, meta, tables, other charts.

    ``status`` opens it (passed or failed, how many trials, which failed which property, each
    failed trial's timeline). ``markdown_tables`` names the tables (by title) the Markdown summary
    keeps, so it stays short enough for a pull-request comment; the HTML shows all of them.
    """

    title: str
    headline: str
    meta: tuple[str, ...]
    tables: tuple[DisplayTable, ...]
    charts: tuple[Chart, ...]
    chart_notes: tuple[str, ...] = ()
    top_tables: tuple[DisplayTable, ...] = ()
    """Shown right after the money charts (the money projection of a crash sweep)."""
    status: RunStatus | None = None
    money_charts: tuple[Chart, ...] = ()
    markdown_tables: frozenset[str] | None = None
    overview: Overview | None = None
    """Counts and environment, right under the status."""
    matrix: DisplayTable | None = None
    """The runtime x fault matrix, after the overview."""
    glossary: tuple[tuple[str, str], ...] = ()

    @property
    def headline_lines(self) -> tuple[str, ...]:
        return tuple(line for line in self.headline.splitlines() if line)


MAX_MARKDOWN_FAILURES = 10


def _failure_text(f: FailedTrial) -> str:
    where = f"{f.scenario} / {f.sut}" + ("" if f.env == "local" else f" ({f.env})")
    return f"{f.trial_id} ({where}): {f.valid}; {', '.join(f.properties) or 'no verdicts'}"


def _html_trials(trials: tuple[FailedTrial, ...]) -> str:
    """A list of trials, each with a link to its timeline."""
    esc = html.escape
    items = []
    for f in trials:
        link = (f' — <a href="{esc(f.timeline)}">timeline</a>' if f.timeline
                else " — timeline: see trials.csv")
        items.append(f"<li>{esc(_failure_text(f))}{link}</li>")
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def _html_status(status: RunStatus) -> list[str]:
    css = "passed" if status.passed else "failed"
    parts = [f'<p class="status {css}">{html.escape(status.line())}</p>']
    if status.failed:
        parts.append(_html_trials(status.failed))
    if status.known:
        parts.append("<p>Known findings (expected failures of the suite; their text is in the "
                     "known findings table):</p>\n" + _html_trials(status.known))
    return parts


def _cell_class(text: str) -> str:
    if "FALSE" in text or "UNKNOWN" in text:
        return ' class="bad"'
    return ' class="seen"' if "known finding seen" in text else ""


def _html_table(table: DisplayTable, css: str = "") -> str:
    esc = html.escape
    if not table.rows:
        return f"<h2>{esc(table.title)}</h2>\n<p class=\"note\">None.</p>"
    head = "".join(f"<th>{esc(h)}</th>" for h in table.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td{_cell_class(c) if css else ''}>{esc(c)}</td>" for c in row)
        + "</tr>" for row in table.rows)
    note = f'<p class="note">{esc(table.note)}</p>' if table.note else ""
    klass = f' class="{css}"' if css else ""
    return (f"<h2>{esc(table.title)}</h2>\n<div class=\"scroll\"><table{klass}>\n<thead><tr>"
            f"{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>\n{note}")


def _html_overview(overview: Overview) -> list[str]:
    esc = html.escape
    items = [f"<li>{esc(line)}</li>" for line in overview.counts]
    if overview.skips:
        reasons = "".join(f"<li>{esc(line)}</li>" for line in overview.skips)
        items.append(f"<li><details><summary>Why tests were skipped ({len(overview.skips)} "
                     f"reason(s))</summary><ul>{reasons}</ul></details></li>")
    items.append(f"<li>{esc(overview.environment)}</li>")
    return [f'<ul class="overview">{"".join(items)}</ul>']


def _html_glossary(glossary: Sequence[tuple[str, str]]) -> list[str]:
    if not glossary:
        return []
    esc = html.escape
    items = "".join(f"<div><dt>{esc(t)}</dt><dd>{esc(d)}</dd></div>" for t, d in glossary)
    return ["<h2>Words used here</h2>", f'<dl class="glossary">{items}</dl>']


def _html_chart(chart: Chart) -> str:
    esc = html.escape
    return (f"<figure><h2>{esc(chart.title)}</h2>\n"
            f"<img src=\"{esc(chart.filename)}\" alt=\"{esc(chart.title)}\">\n"
            f"<figcaption>{esc(chart.caption)}</figcaption></figure>")


def render_html(page: ReportPage) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">', f"<title>{esc(page.title)}</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>", f"<h1>{esc(page.title)}</h1>",
        *(_html_status(page.status) if page.status else []),
        *(_html_overview(page.overview) if page.overview else []),
        *([_html_table(page.matrix, "matrix")] if page.matrix else []),
        *_html_glossary(page.glossary),
        *(_html_chart(c) for c in page.money_charts),
        *(_html_table(t) for t in page.top_tables),
        "<h2>One line per scenario</h2>",
        '<ul class="headline">' + "".join(f"<li>{esc(line)}</li>"
                                          for line in page.headline_lines) + "</ul>",
        *(f'<p class="meta">{esc(line)}</p>' for line in page.meta),
        *(_html_table(t) for t in page.tables),
        *(_html_chart(c) for c in page.charts),
        *(f'<p class="note">{esc(n)}</p>' for n in page.chart_notes),
        "</body>", "</html>", "",
    ]
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _md_table(table: DisplayTable) -> list[str]:
    lines = [f"### {table.title}", ""]
    if not table.rows:
        return [*lines, "None.", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{_md_cell(table.note)}_"]
    return [*lines, ""]


def _md_status(status: RunStatus, charts_hint: str) -> list[str]:
    lines = [f"**{_md_cell(status.line())}**", ""]
    for f in status.failed[:MAX_MARKDOWN_FAILURES]:
        link = f" ([timeline]({f.timeline}))" if f.timeline else ""
        lines.append(f"- {_md_cell(_failure_text(f))}{link}")
    if len(status.failed) > MAX_MARKDOWN_FAILURES:
        lines.append(f"- ... and {len(status.failed) - MAX_MARKDOWN_FAILURES} more: see "
                     f"`{charts_hint}` or trials.csv")
    for f in status.known[:MAX_MARKDOWN_FAILURES]:
        link = f" ([timeline]({f.timeline}))" if f.timeline else ""
        lines.append(f"- known finding: {_md_cell(_failure_text(f))}{link}")
    return [*lines, ""] if status.failed or status.known else lines


def render_markdown(page: ReportPage, charts_hint: str = "index.html") -> str:
    lines = [f"## {page.title}", ""]
    if page.status is not None:
        lines += _md_status(page.status, charts_hint)
    if page.overview is not None:
        lines += [f"- {_md_cell(line)}" for line in page.overview.counts]
        lines += [f"  - {_md_cell(line)}" for line in page.overview.skips]
        lines += [f"- {_md_cell(page.overview.environment)}", ""]
    if page.matrix is not None:
        lines += _md_table(page.matrix)
    if page.glossary:
        lines += ["<details><summary>Words used here</summary>", ""]
        lines += [f"- **{t}**: {_md_cell(d)}" for t, d in page.glossary] + ["", "</details>", ""]
    lines += ["### One line per scenario", ""]
    lines += [f"- {_md_cell(line)}" for line in page.headline_lines] + [""]
    lines += [f"{_md_cell(m)}  " for m in page.meta] + [""]
    for table in page.top_tables:
        lines += _md_table(table)
    for table in page.tables:
        if page.markdown_tables is None or table.title in page.markdown_tables:
            lines += _md_table(table)
    if page.charts or page.money_charts:
        names = ", ".join(c.title.lower() for c in (*page.money_charts, *page.charts))
        lines.append(f"Charts ({names}) are in `{charts_hint}` of the report directory.")
    return "\n".join(lines) + "\n"


def join_meta(items: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(f"{k}: {v}" for k, v in items if v)
