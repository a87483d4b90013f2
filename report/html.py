"""The report page: a self-contained HTML document (inline CSS, SVG plots and images; nothing is fetched)."""

from __future__ import annotations

from html import escape

from qa_templates.options import MAX_ANSWER_SHARE, MAX_YES_NO_SHARE, TWO_ANSWER_SHARE, answer_share_limit
from report.data import ReportData
from report.plots import TIER_COLORS
from report.samples import SampleView

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f5f8;color:#1f2933;font:14px/1.45 "DejaVu Sans","Liberation Sans",sans-serif}
header{background:#14213d;color:#fff;padding:22px 36px 26px}
header h1{margin:0 0 2px;font-size:22px;letter-spacing:.2px}
header .root{color:#a9b4c8;font:12px "DejaVu Sans Mono",monospace}
.totals{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.total{background:rgba(255,255,255,.08);border-radius:8px;padding:10px 16px;min-width:118px}
.total .n{font-size:26px;font-weight:bold}
.total .label{color:#a9b4c8;font-size:12px;text-transform:uppercase;letter-spacing:.6px}
.total.bad .n{color:#ff8a80}
.total.run{min-width:300px}
.total.run .n{font-size:15px;line-height:1.5}
main{max-width:1240px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(20,33,61,.08);margin:18px 0;padding:18px 22px}
h2{font-size:17px;margin:0 0 4px}
.note{color:#6b7785;font-size:12.5px;margin:0 0 10px}
figure.plot{margin:0}
figure.plot svg{width:100%;height:auto;display:block}
.empty{color:#1a7f37;background:#eef8f0;border-radius:6px;padding:10px 14px;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:12.5px;margin-top:10px}
td.over{color:#c0392b;font-weight:bold}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e8ee;vertical-align:top}
th{color:#6b7785;font-weight:normal;text-transform:uppercase;font-size:11px;letter-spacing:.5px}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:16px}
.sample{border:1px solid #e4e8ee;border-radius:8px;overflow:hidden;display:flex;flex-direction:column}
.sample .frames{display:grid;grid-template-columns:1fr 1fr;gap:2px;background:#111}
.sample .frames figure{margin:0;position:relative}
.sample .frames figure:only-child{grid-column:span 2}
.sample .frames img{width:100%;display:block}
.sample .frames figcaption{position:absolute;left:4px;top:4px;background:rgba(0,0,0,.6);color:#fff;font-size:11px;
padding:0 5px;border-radius:3px}
.sample .frames .prompted figcaption{background:#e67e22}
.sample .body{padding:10px 12px}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 7px;font-size:11.5px;margin-right:6px}
.task{font-weight:bold}
.meta{color:#6b7785;font-size:12px}
.question{margin:8px 0 6px;white-space:pre-wrap}
.answer{background:#f3f5f8;border-radius:5px;padding:4px 8px;display:inline-block;font-weight:bold}
.error{color:#c0392b;font-size:12.5px;padding:10px 12px;background:#fdecea}
"""


def render_page(data: ReportData, plots: dict[str, str], samples: list[SampleView], generated_at: str) -> str:
    """The whole page; `plots` maps a plot name (heatmap, answers, scales, drops, rejects, failures) to its SVG."""
    body = "\n".join([
        _header(data, generated_at),
        "<main>",
        _section("QA per tier × task", "Rows in the qa table; totals in brackets. Hatched: the task is not "
                 "asked in that tier; a red 0 is asked but nothing was generated.", _plot("heatmap", plots)),
        _section("Numeric answers in tier units", "Distribution of every numeric answer per task and tier; lengths "
                 "in the tier's unit (mm, cm, m), other quantities in SI. Dotted line: median.",
                 _plot("answers", plots, "No numeric answers.")),
        _section("Multiple-choice answer balance", "Per task and tier: rows, the most frequent correct option and "
                 f"its share (red above {MAX_ANSWER_SHARE:.0%}; {TWO_ANSWER_SHARE:.0%} where a scene offers only two, "
                 f"{MAX_YES_NO_SHARE:.0%} for yes/no), and the rows answered at each letter.", _balance_table(data)),
        _section("Object size and scene extent per tier", "Log axis from millimetres to kilometres. Shaded band: "
                 "the extent range that defines the tier.", _plot("scales", plots)),
        _section("Dropped by quality gates", "Candidates not emitted because a quality gate failed (near ties, partial "
                 "views, uncertain scale, …), by task and reason; counted per shard in the shards table, which "
                 "records shards committed without failures.",
                 _plot("drops", plots, "No candidate was dropped.")),
        _section("Rejects", "Candidates that failed validation, by task and reason.",
                 _plot("rejects", plots, "No rejects: every generated candidate validated.")),
        _section("Failures", "Inputs that could not be curated, by stage and error.",
                 _plot("failures", plots, "No failures: every input was curated.") + _failure_table(data)),
        _section("Sample QA", "What a model is shown: the frames with their visual prompts drawn, and the question. "
                 "A few per tier, of different tasks, those with visual prompts first.", _samples(samples)),
        "</main>"])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="icon" href="data:,">\n<title>SpaceVista dataset report</title>\n<style>{CSS}</style>\n'
            f'</head>\n<body>\n{body}\n</body>\n</html>\n')


def _header(data: ReportData, generated_at: str) -> str:
    t = data.totals
    cards = [_total("videos", t.videos), _total("scenes", t.scenes), _total("QA", t.qa),
             _total("rejects", t.rejects, bad=t.rejects > 0), _total("failures", t.failures, bad=t.failures > 0)]
    run = t.last_run
    run_text = (f"{escape(run.run_id)}<br>{escape(run.finished_at)} · {escape(run.status)} · {run.wall_s:.0f} s"
                if run else "no run recorded")
    cards.append(f'<div class="total run" id="total-last-run"><div class="n">{run_text}</div>'
                 f'<div class="label">last run</div></div>')
    return (f'<header><h1>SpaceVista dataset report</h1><div class="root">{escape(data.root)} · generated '
            f'{escape(generated_at)}</div><div class="totals">{"".join(cards)}</div></header>')


def _total(label: str, n: int, bad: bool = False) -> str:
    return (f'<div class="total{" bad" if bad else ""}" id="total-{label.lower()}"><div class="n">{n:,}</div>'
            f'<div class="label">{label}</div></div>')


def _section(title: str, note: str, content: str) -> str:
    return f'<section><h2>{escape(title)}</h2><p class="note">{escape(note)}</p>{content}</section>'


def _plot(name: str, plots: dict[str, str], when_empty: str = "Nothing to plot.") -> str:
    if name not in plots:
        return f'<p class="empty" id="empty-{name}">{escape(when_empty)}</p>'
    return f'<figure class="plot" id="plot-{name}">{plots[name]}</figure>'


def _balance_table(data: ReportData) -> str:
    if not data.choice_balance:
        return '<p class="empty" id="empty-balance">No multiple-choice answers.</p>'
    rows = "".join(
        f'<tr><td>{escape(b.task_type.replace("_", " "))}</td><td>{escape(b.tier.replace("_", " "))}</td>'
        f'<td>{b.rows}</td><td>{b.answers}</td><td>{escape(b.top_answer)}</td>'
        f'<td{" class=over" if b.top_share > answer_share_limit(b.top_answer, b.answers) + 1e-9 else ""}>'
        f'{b.top_share:.0%}</td>'
        f'<td>{" ".join(f"{letter} {n}" for letter, n in b.letters.items())}</td></tr>'
        for b in data.choice_balance)
    return (f'<table id="answer-balance"><tr><th>task</th><th>tier</th><th>rows</th><th>answers</th>'
            f'<th>most frequent answer</th><th>share</th><th>letters</th></tr>{rows}</table>')


def _failure_table(data: ReportData) -> str:
    if not data.failures:
        return ""
    rows = "".join(f"<tr><td>{escape(f.uri)}</td><td>{escape(f.stage)}</td><td>{escape(f.error_type)}</td>"
                   f"<td>{escape(f.message)}</td></tr>" for f in data.failures)
    shown = "" if len(data.failures) == data.totals.failures else f" (first {len(data.failures)})"
    return (f'<table id="failures"><caption class="note">Failed inputs{shown}</caption><tr><th>input</th>'
            f'<th>stage</th><th>error</th><th>message</th></tr>{rows}</table>')


def _samples(samples: list[SampleView]) -> str:
    if not samples:
        return '<p class="empty">No QA rows.</p>'
    return f'<div class="samples">{"".join(_sample(s) for s in samples)}</div>'


def _sample(view: SampleView) -> str:
    row = view.row
    tier = row.scale.value
    frames = "".join(f'<figure{" class=prompted" if f.prompted else ""}><img src="{f.data_uri}" '
                     f'alt="frame {f.number} of {escape(row.qa_id)}"><figcaption>Frame {f.number}'
                     f'{" · prompt" if f.prompted else ""}</figcaption></figure>' for f in view.frames)
    hidden = len(row.frame_paths) - len(view.frames) if view.frames else 0
    media = (f'<div class="frames">{frames}</div>' if view.frames
             else f'<div class="error">{escape(view.error)}</div>')
    return (f'<div class="sample" data-qa-id="{escape(row.qa_id)}">{media}<div class="body">'
            f'<span class="badge" style="background:{TIER_COLORS[tier]}">{escape(tier.replace("_", " "))}</span>'
            f'<span class="task">{escape(row.task_type.value.replace("_", " "))}</span>'
            f'<div class="meta">{escape(row.input_type.value)} prompt · {len(row.frame_paths)} frame'
            f'{"s" if len(row.frame_paths) != 1 else ""}{f" ({hidden} not shown)" if hidden else ""} · '
            f'scene {escape(row.scene_id)}</div>'
            f'<div class="question">{escape(row.question)}</div>'
            f'<span class="answer">{escape(view.answer)}</span></div></div>')
