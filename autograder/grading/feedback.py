"""Feedback pages for students: their graded notebook as one static, inert HTML page.

Everything the student's kernel produced (outputs) and everything the student
wrote (markdown, code, extra cells) is hostile input here: the page is read by
the student and by the instructor, in a browser. So:

- the page is a fixed template with a strict Content-Security-Policy, no
  JavaScript and no external resources (maths stays as literal `$...$` text);
- text is HTML-escaped; HTML (markdown cells, `text/html` outputs) goes through
  nh3 (the Rust sanitizer ammonia) with a small allow-list: no scripts, styles,
  event handlers, frames, forms or SVG, links only to http/https/mailto, images
  only as validated PNG/JPEG/GIF data URLs;
- hidden tests (any `### BEGIN HIDDEN TESTS` region that starts a line),
  model answers in instructor cells, test cells' traceback frames and the
  grader's own result data are never shown;
- each output, each image and the whole page have a size cap.

nbgrader's own feedback shows the hidden test code (nbgrader #917), which is
why this module renders the page itself.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from string import Template
from typing import Any, Callable

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from ..engine.runner.collect import RESULT_MIME  # the grader's data in a kernel's output: never shown

MAX_OUTPUT = 20_000  # characters of one output (or source, or message) shown; the head is kept
MAX_IMAGE = 1_500_000  # characters of one base64 image
MAX_PAGE = 5_000_000  # characters of the whole page; cells past it are left out with a note

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
HIDDEN_NOTE = "# Hidden tests ran here: they check the same function on other inputs (not shown)."
HIDDEN_TEXT = "[hidden tests: not shown]"  # the same note in markdown and outputs
SOLUTION_NOTE = "[model answer not shown]"

#: A hidden-test region anywhere in a text; one never closed runs to the end.
#: Markers count at the start of a line only, and `#++` never backtracks: a
#: student's line of a million `#` costs one pass, not a million.
_HIDDEN = re.compile(r"^[ \t]*#++[ \t]*BEGIN[ \t]+HIDDEN[ \t]+TESTS.*?"
                     r"(?:^[ \t]*#++[ \t]*END[ \t]+HIDDEN[ \t]+TESTS[^\n]*|\Z)", re.S | re.I | re.M)
#: A model-answer region (nbgrader's solution and mark-scheme delimiters).
_SOLUTION = re.compile(
    r"^[ \t]*#++[ \t]*BEGIN[ \t]+(SOLUTION|MARK[ \t]+SCHEME).*?(?:^[ \t]*#++[ \t]*END[ \t]+\1[^\n]*|\Z)",
    re.S | re.I | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")  # keeps \t \n \r
_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "jpeg": (b"\xff\xd8\xff",), "gif": (b"GIF87a", b"GIF89a")}
_DATA_URL = re.compile(r"data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/=\s]*)\Z", re.I)

#: Tags kept by the sanitizer; any other tag is removed and its text kept.
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s",
    "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
    "ul", "var",
}
#: Tags removed together with their content.
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "form",
    "noscript", "template", "textarea", "select", "button", "title", "head", "link", "meta", "base",
}
#: Attributes kept, per tag; no class, id or style (student content cannot pose as the page's own verdicts).
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: is then allowed only as an image's src

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
dollarmath_plugin(_markdown, renderer=lambda content, options: html.escape(
    f"$${content}$$" if options.get("display_mode") else f"${content}$"))


@dataclass
class PartVerdict:
    """The grader's verdict on one automatically graded part."""

    grade_id: str  # the test cell's grade_id
    points: float  # points earned
    max_points: float
    message: str | None  # the grader's message (None when passed); may quote the student's exception text


def _text(value: Any) -> str:
    """A notebook string field (a str, or a list of str in raw nbformat) as one str."""
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _cap(text: str, limit: int = MAX_OUTPUT) -> tuple[str, bool]:
    """The head of a text, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _clean_text(text: str, terminal: bool = True) -> str:
    """Text as it would look: ANSI codes and control characters gone; in terminal output
    (progress bars) `\\r` overwrites its line, elsewhere it ends it."""
    text = _CONTROL.sub("", _ANSI.sub("", text)).replace("\r\n", "\n")
    if not terminal:
        return text.replace("\r", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _hide(text: str, instructor: bool = False, note: str = HIDDEN_TEXT) -> str:
    """A text without hidden tests and, in an instructor's cell, without model answers
    (cut first to twice what any page shows of it, so no text costs long)."""
    text = _HIDDEN.sub(note, text[:2 * MAX_OUTPUT])
    return _SOLUTION.sub(SOLUTION_NOTE, text) if instructor else text


def _image_data_url(kind: str, data: str) -> str | None:
    """A canonical data URL for a base64 image, or None unless it decodes and is really that kind."""
    if len(data) > 2 * MAX_IMAGE:  # too large whatever its line breaks: spare the regex
        return None
    data = re.sub(r"\s+", "", data)
    if len(data) > MAX_IMAGE:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_MAGIC[kind]):
        return None
    return f"data:image/{kind};base64,{base64.b64encode(raw).decode('ascii')}"


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute check: links only to http/https/mailto, images only as validated data URLs."""
    if attribute == "href":
        return value if re.match(r"\s*(https?:|mailto:)", value, re.I) else None
    if attribute == "src":
        match = _DATA_URL.match(value.strip()) if tag == "img" else None
        return _image_data_url(match.group(1).lower(), match.group(2)) if match else None
    return value


#: An <img> tag as nh3 writes it (attribute values always in double quotes, `"` escaped).
_IMG = re.compile(r'<img(?:\s+[\w-]+="[^"]*")*\s*/?>')


def sanitize_html(fragment: str) -> str:
    """Untrusted HTML made inert with nh3 and the allow-lists above; an image
    whose source was refused becomes a short note rather than a broken icon."""
    clean = nh3.clean(fragment, tags=TAGS, clean_content_tags=DROPPED_WITH_CONTENT, attributes=ATTRIBUTES,
                      attribute_filter=_attribute_filter, url_schemes=URL_SCHEMES, strip_comments=True,
                      link_rel="noopener noreferrer")
    return _IMG.sub(lambda m: m.group(0) if ' src="' in m.group(0) else "[image not shown]", clean)


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _pre(text: str, css: str = "", terminal: bool = True) -> str:
    """Untrusted text as an escaped <pre>, capped."""
    text, cut = _cap(_clean_text(text, terminal))
    cls = f' class="{css}"' if css else ""
    return f"<pre{cls}>{html.escape(text)}</pre>" + (_note(f"(output cut: only the first {MAX_OUTPUT:,} characters are shown)") if cut else "")


def _sanitized(fragment: str, render: Callable[[str], str] = lambda s: s) -> str:
    """Untrusted HTML or markdown, capped before rendering and sanitized after."""
    fragment, cut = _cap(fragment)
    body = f'<div class="html">{sanitize_html(render(fragment))}</div>'
    return body + (_note(f"(output cut: only the first {MAX_OUTPUT:,} characters are shown)") if cut else "")


def _bundle(data: dict, instructor: bool) -> str:
    """One display_data / execute_result: its safest useful representation."""
    parts = []
    for kind in ("png", "jpeg"):
        if f"image/{kind}" in data:
            url = _image_data_url(kind, _text(data[f"image/{kind}"]))
            if url:
                return f'<img alt="output figure" src="{html.escape(url)}">'
            parts.append(_note(f"(an image/{kind} output is not shown: it is not a valid image or is too large)"))
            break
    dropped = sorted(k for k in data if k.startswith("image/svg") or "javascript" in k or "widget" in k)
    if dropped:
        parts.append(_note(f"(an output of type {', '.join(dropped)} is not shown)"))
    if "text/html" in data:
        parts.append(_sanitized(_hide(_text(data["text/html"]), instructor)))
    elif "text/markdown" in data:
        parts.append(_sanitized(_hide(_text(data["text/markdown"]), instructor), _markdown.render))
    elif "text/plain" in data or "text/latex" in data:
        parts.append(_pre(_hide(_text(data.get("text/plain") or data.get("text/latex")), instructor)))
    elif not parts:
        parts.append(_note(f"(an output of type {', '.join(sorted(map(str, data))) or 'none'} is not shown)"))
    return "".join(parts)


def _output(output: Any, instructor: bool, frames: bool) -> str:
    """One cell output as safe HTML ("" for the grader's own data)."""
    if not isinstance(output, dict):
        return ""
    kind = output.get("output_type")
    if kind == "stream":
        return _pre(_hide(_text(output.get("text")), instructor), "stderr" if output.get("name") == "stderr" else "")
    if kind == "error":
        head = f"{_text(output.get('ename')) or 'Error'}: {_text(output.get('evalue'))}"
        tb = "\n".join(_text(line) for line in output.get("traceback") or []) if frames else ""
        return _pre(_hide(tb or head, instructor), "error")
    data = output.get("data")
    if kind in ("display_data", "execute_result") and isinstance(data, dict):
        return "" if RESULT_MIME in data else _bundle(data, instructor)
    return _note(f"(an output of type {kind!s:.40} is not shown)")


def _fmt(x: float | None) -> str:
    return "&ndash;" if x is None else html.escape(f"{x:g}")


def _verdict(verdict: PartVerdict | None) -> str:
    """The verdict box of a test cell, shown above its code and outputs."""
    if verdict is None:
        box = '<div class="verdict fail"><strong>No verdict was recorded for this test cell.</strong></div>'
    else:
        ok = verdict.message is None
        head = f"{'Passed' if ok else 'Not passed'}: {_fmt(verdict.points)} of {_fmt(verdict.max_points)} points"
        message = "" if ok else f'<pre class="message">{html.escape(_cap(_clean_text(verdict.message or ""))[0])}</pre>'
        box = f'<div class="verdict {"pass" if ok else "fail"}"><strong>{head}</strong>{message}</div>'
    return box + _note("Below: this cell's code and the output of its visible tests when your notebook ran. "
                       "Your points come from the instructor's tests (the verdict above), not from this output.")


def _cell(cell: Any, verdicts: dict[str, PartVerdict], manual: dict[str, tuple[float | None, float]]) -> str:
    """One notebook cell as safe HTML."""
    if not isinstance(cell, dict):
        return ""
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    kind, grade_id = cell.get("cell_type"), str(meta.get("grade_id", ""))
    is_test = kind == "code" and meta.get("grade") is True and meta.get("solution") is not True
    # The student's cells: answer cells, and cells they added (no nbgrader role at all).
    student = meta.get("solution") is True or not any(meta.get(k) for k in ("grade", "locked", "task"))
    instructor = not student
    source = _hide(_text(cell.get("source")), instructor, HIDDEN_NOTE if kind == "code" else HIDDEN_TEXT)
    parts = [f'<div class="cell {"test" if is_test else "student" if student else "given"}">']
    if is_test:
        parts.append(_verdict(verdicts.get(grade_id)))
    elif grade_id in manual:
        score, out_of = manual[grade_id]
        shown = "to be graded by your instructor" if score is None else f"{_fmt(score)} of {_fmt(out_of)} points"
        parts.append(f'<div class="verdict manual"><strong>Written answer: {shown}</strong></div>')
    if kind == "markdown":
        parts.append(_sanitized(source, _markdown.render))
    elif kind == "code":
        parts.append(_pre(source, "source", terminal=False))
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        shown_outputs = [_output(o, instructor, frames=not instructor) for o in outputs]
        parts.append(f'<div class="outputs">{"".join(shown_outputs)}</div>')
    else:  # raw cells and anything unknown: text
        parts.append(_pre(source, terminal=False))
    parts.append("</div>")
    return "".join(parts)


_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; color: #222; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
pre.source { background: #eef2f7; border-left: 3px solid #8aa; }
pre.stderr { background: #fff4e5; } pre.error { background: #fde8e8; }
table.summary { border-collapse: collapse; } table.summary td, table.summary th { border: 1px solid #ccc; padding: .25rem .5rem; }
.cell { margin: 1.2rem 0; padding-top: .4rem; border-top: 1px solid #ddd; }
.verdict { padding: .5rem .8rem; margin: .4rem 0; border: 2px solid; border-radius: 4px; }
.verdict.pass { background: #e8f6e8; border-color: #2a7a2a; } .verdict.fail { background: #fde8e8; border-color: #a22; }
.verdict.manual { background: #eef; border-color: #557; } .verdict pre.message { background: transparent; margin: .3rem 0 0; }
.note { color: #555; font-size: .9em; font-style: italic; margin: .2rem 0; }
.html img, .outputs img { max-width: 100%; }
.html table { border-collapse: collapse; } .html td, .html th { border: 1px solid #ddd; padding: .15rem .4rem; }
</style></head>
<body>
$body
</body></html>
""")


def _page(title: str, body: str) -> str:
    return _PAGE.substitute(csp=CSP, title=html.escape(title), body=body)


def _header(assignment: str, student: str, status: str, notes: list[str]) -> str:
    items = "".join(f"<li>{html.escape(_cap(n)[0])}</li>" for n in notes)
    return (f"<h1>Feedback: {html.escape(assignment)}, {html.escape(student)}</h1>"
            f"<p>Status: <strong>{html.escape(status)}</strong></p>" + (f"<ul>{items}</ul>" if items else ""))


def render(nb: Any, assignment: str, student: str, total: float, max_total: float, status: str, notes: list[str],
           verdicts: list[PartVerdict], manual: list[tuple[str, float | None, float]]) -> str:
    """The HTML feedback page of one graded student notebook.

    A summary (total, status, notes, one row per graded part), then every cell
    in order, each test cell led by its verdict; `manual` holds
    (grade_id, score or None when not graded yet, max points).
    """
    by_id = {v.grade_id: v for v in verdicts}
    by_manual = {g: (score, out_of) for g, score, out_of in manual}
    rows = [f"<tr><td>{html.escape(v.grade_id)}</td><td>{_fmt(v.points)}</td><td>{_fmt(v.max_points)}</td>"
            f"<td>{'passed' if v.message is None else html.escape(_cap(_clean_text(v.message), 2_000)[0])}</td></tr>"
            for v in verdicts]
    rows += [f"<tr><td>{html.escape(g)}</td><td>{_fmt(score)}</td><td>{_fmt(out_of)}</td>"
             f"<td>{'to be graded by your instructor' if score is None else 'graded by your instructor'}</td></tr>"
             for g, score, out_of in manual]
    body = [
        _header(assignment, student, status, notes),
        f'<p class="total">Total: <strong>{_fmt(total)} of {_fmt(max_total)} points</strong></p>',
        '<table class="summary"><tr><th>graded part</th><th>points</th><th>out of</th><th>verdict</th></tr>'
        + "".join(rows) + "</table>",
        _note("Your notebook follows as it was graded. Each test cell starts with its verdict. Hidden tests, "
              "and the details of errors raised in test cells, are not shown."),
        "<h2>Your notebook</h2>",
    ]
    title = f"Feedback: {assignment}, {student}"
    size = len(_page(title, "\n".join(body))) + 1_000  # room for the closing note
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    for i, cell in enumerate(cells):
        shown = _cell(cell, by_id, by_manual)
        if size + len(shown) + 1 > MAX_PAGE:
            body.append(_note(f"(the last {len(cells) - i} cells are not shown: the page reached its size limit)"))
            break
        body.append(shown)
        size += len(shown) + 1
    return _page(title, "\n".join(body))


def render_problem(assignment: str, student: str, status: str, notes: list[str]) -> str:
    """A short page for a submission that could not be graded."""
    return _page(f"Feedback: {assignment}, {student}",
                 _header(assignment, student, status, notes)
                 + "<p>Your submission could not be graded. Please contact your instructor.</p>")
