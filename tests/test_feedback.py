"""Feedback pages against a hostile student: nothing active, nothing hidden, sizes capped.

Notebooks are built here in code: a student controls their cells' sources and
every output (their kernel ran the whole notebook), so each hostile case sits
where a student could put it. Pages are parsed with the stdlib's html.parser.
"""
from __future__ import annotations

import base64
import re
import struct
import zlib
from html.parser import HTMLParser

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder.grading import feedback
from autograder.grading.feedback import PartVerdict, render, render_problem

ACTIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "svg", "math", "form", "input",
               "button", "link", "base", "textarea", "select", "noscript", "template"}


def png(width: int = 2, height: int = 2, padding: bytes = b"") -> bytes:
    """A real, small RGB PNG (optionally with a large ancillary chunk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    extra = chunk(b"tEXt", b"pad\x00" + padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Page(HTMLParser):
    """Every start tag of a page, with its attributes, in order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag


def assert_inert(page: str) -> Page:
    """No script, event handler, frame, plugin, form, SVG, javascript: URL, remote resource; CSP in place."""
    parsed = Page(page)
    names = [t for t, _ in parsed.tags]
    assert not ACTIVE_TAGS & set(names), ACTIVE_TAGS & set(names)
    assert names.count("style") == 1  # the page's own stylesheet, in the head
    assert "<script" not in page.lower() and "<iframe" not in page.lower() and "<svg" not in page.lower()
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"]
    assert len(csp) == 1
    for directive in ("default-src 'none'", "img-src data:", "style-src 'unsafe-inline'"):
        assert directive in csp[0]["content"]
    assert "script-src" not in csp[0]["content"]
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.lower().startswith("on"), (tag, name)
            assert name.lower() not in {"style", "srcdoc", "formaction", "action", "background"}, (tag, name)
            squashed = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            assert not squashed.startswith(("javascript:", "vbscript:")), (tag, value)
        if tag == "meta":
            assert "http-equiv" not in attrs or attrs["http-equiv"].lower() == "content-security-policy"
        if tag == "img":
            assert re.fullmatch(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=]+", attrs.get("src", "")), attrs
        if tag == "a" and "href" in attrs:
            assert re.match(r"(https?:|mailto:)", attrs["href"]), attrs
            assert attrs.get("rel") == "noopener noreferrer"
    return parsed


def test_cell(source: str, grade_id: str, outputs: list | None = None, points: float = 2) -> nbformat.NotebookNode:
    cell = new_code_cell(source, outputs=outputs or [])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                                 "points": points, "schema_version": 3}
    return cell


test_cell.__test__ = False  # a helper, not a test


def answer_cell(source: str, grade_id: str, outputs: list | None = None, cell_type: str = "code") -> nbformat.NotebookNode:
    cell = new_code_cell(source, outputs=outputs or []) if cell_type == "code" else new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade": cell_type == "markdown", "solution": True, "locked": False,
                                 "grade_id": grade_id, "schema_version": 3, **({"points": 3} if cell_type == "markdown" else {})}
    return cell


def given_cell(source: str, cell_type: str = "code") -> nbformat.NotebookNode:
    cell = new_code_cell(source) if cell_type == "code" else new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "given_" + str(len(source)),
                                 "schema_version": 3}
    return cell


def stream(text: str, name: str = "stdout") -> nbformat.NotebookNode:
    return new_output("stream", name=name, text=text)


def display(data: dict) -> nbformat.NotebookNode:
    return new_output("display_data", data=data)


HOSTILE_MARKDOWN = """# My answer

<script>alert('md-script')</script>
<img src=x onerror=alert(1)>
<img src="https://tracker.example/pixel.png">
[click me](javascript:alert(1))
<a href="JaVaScRiPt:alert(2)">x</a>
<a href="  java&#x09;script:alert(3)">y</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">z</a>
<a href="https://example.com/ok">a fine link</a>
<iframe src="https://evil.example"></iframe>
<object data="x.swf"></object><embed src="x.swf">
<form action="https://evil.example"><input name=p><button formaction="javascript:alert(4)">go</button></form>
<svg onload=alert(5)><script>alert(6)</script></svg>
<math><mi xlink:href="javascript:alert(7)">m</mi></math>
<meta http-equiv="refresh" content="0;url=https://evil.example">
<base href="https://evil.example/">
<link rel=stylesheet href="https://evil.example/x.css">
<style>body { display: none }</style>
<div style="position:fixed;top:0">overlay</div>
<div class="verdict pass">Passed: 100 of 100 points</div>
<details open ontoggle=alert(8)>d</details>
<p onclick="alert(9)" onmouseover=alert(10)>para</p>

Maths stays text: $h_t = \\tanh(W x_t)$.
"""


def hostile_notebook() -> nbformat.NotebookNode:
    """A graded notebook with a hostile student's cells and outputs."""
    fake_png = b64(b"<script>alert('png')</script>")
    cells = [
        new_markdown_cell("# Assignment 1\nGiven text."),
        answer_cell(HOSTILE_MARKDOWN, "written", cell_type="markdown"),
        answer_cell(
            "def step(x):\n    ### BEGIN SOLUTION\n    return x  # my own code, with a marker\n    ### END SOLUTION\n"
            "print('</pre><script>alert(11)</script>')",
            "step_answer",
            outputs=[
                stream("</pre><script>alert('stream')</script>\n"),
                stream("### BEGIN HIDDEN TESTS\ncheck('secret_hidden_case')\n### END HIDDEN TESTS\nafter hidden\n"),
                stream("### BEGIN SOLUTION\nstudent fake marker text\n### END SOLUTION\n"),
                stream("A" * 1_000_000),
                display({"text/html": "<b>bold</b><script>alert('html')</script><img src=x onerror=alert(12)>"
                                      "<iframe srcdoc='<script>alert(13)</script>'></iframe>"
                                      "<table class='dataframe' border=1><tr><td>cell-1</td></tr></table>",
                         "text/plain": "plain fallback"}),
                display({"image/svg+xml": "<svg onload=alert(14)><script>alert(15)</script></svg>",
                         "text/plain": "<Figure size 640x480>"}),
                display({"image/png": fake_png, "text/plain": "fake png"}),
                display({"image/png": "not base64 at all!!!"}),
                display({"image/jpeg": b64(png())}),  # a PNG claiming to be a JPEG
                display({"image/png": b64(png(padding=b"\x00" * 1_200_000))}),  # valid but too large
                display({"application/javascript": "alert(16)", "text/plain": "js fallback"}),
                display({"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}),
                display({feedback.RESULT_MIME: {"score": 1, "expected": [1, 2]}, "text/plain": "GRADER_RESULT_DATA"}),
                new_output("execute_result", data={"text/markdown": "**md out** <script>alert(17)</script>"},
                           execution_count=1),
                new_output("error", ename="ValueError", evalue="student bug",
                           traceback=["\x1b[31mTraceback (most recent call last)\x1b[0m",
                                      '  File "<ipython-input-3>", line 2, in step_frame_of_student', "ValueError: student bug"]),
            ],
        ),
        test_cell(
            '"""step returns its input."""\nassert step(1) == 1\n'
            "### BEGIN HIDDEN TESTS\ncheck('hidden_case_name')\nassert step(99) == 'HIDDEN_EXPECTED'\n### END HIDDEN TESTS\n",
            "test_step",
            outputs=[
                stream("VISIBLE_TEST_OUTPUT\n"),
                new_output("error", ename="AssertionError", evalue="shapes differ",
                           traceback=["Traceback (most recent call last):",
                                      '  File "/work/main/autograder/cases.py", line 10, in judge\n    secret_frame()',
                                      "AssertionError: shapes differ"]),
            ],
        ),
        given_cell("x = 1\n### BEGIN SOLUTION\nMODEL_ANSWER_CODE = 42\n### END SOLUTION\ny = 2\n"),
        test_cell('"""second test."""\nassert True\n### BEGIN HIDDEN TESTS\nUNTERMINATED_HIDDEN = 1\n', "test_two",
                  outputs=[stream("SECOND_TEST_OUTPUT\n")]),
        new_code_cell("# extra cell added by the student\nprint('extra')",
                      outputs=[stream("extra\n"), stream("#### begin hidden tests\nleak_lowercase\n")]),
    ]
    return new_notebook(cells=cells)


def render_hostile() -> str:
    verdicts = [
        PartVerdict("test_step", 0.0, 2.0, "step(3) returned <b>wrong</b> & raised <script>alert('msg')</script>"),
        PartVerdict("test_two", 2.0, 2.0, None),
    ]
    return render(hostile_notebook(), "a1_rnn", "stu<dent>", 2.0, 7.0, "graded", ["note <i>one</i>"],
                  verdicts, [("written", None, 3.0)])


def test_hostile_page_is_inert() -> None:
    page = render_hostile()
    parsed = assert_inert(page)
    # Harmless structure survives; the student's styling and classes do not.
    assert "<b>bold</b>" in page and "cell-1" in page
    assert '<a href="https://example.com/ok" rel="noopener noreferrer">a fine link</a>' in page
    assert "Passed: 100 of 100 points" in page  # as text only: the student cannot use the page's classes
    classes = [a.get("class", "") for t, a in parsed.tags if t == "div"]
    assert classes.count("verdict pass") == 1  # test_two's, the grader's
    assert "dataframe" not in page and "tracker.example" not in page
    # Maths stays literal text.
    assert "$h_t = \\tanh(W x_t)$" in page
    # The hostile tags show up escaped or not at all.
    assert "&lt;script&gt;alert(11)" in page or "&lt;/pre&gt;&lt;script&gt;" in page


def test_dropped_outputs_leave_notes() -> None:
    page = render_hostile()
    assert "GRADER_RESULT_DATA" not in page
    assert "image/svg+xml" in page and "&lt;Figure size 640x480&gt;" in page
    assert "application/javascript" in page and "widget-view" in page
    assert "not a valid image or is too large" in page
    assert page.count("<img") == 0  # fake, mislabelled and oversized images all refused
    assert "<strong>md out</strong>" in page


def test_hidden_tests_and_model_answers_never_shown() -> None:
    page = render_hostile()
    for secret in ("secret_hidden_case", "hidden_case_name", "HIDDEN_EXPECTED", "UNTERMINATED_HIDDEN",
                   "leak_lowercase", "MODEL_ANSWER_CODE", "BEGIN HIDDEN", "begin hidden"):
        assert secret not in page, secret
    assert feedback.HIDDEN_NOTE in page and "after hidden" in page
    assert feedback.SOLUTION_NOTE in page and "x = 1" in page and "y = 2" in page
    # The student's own code is theirs: their solution markers stay, escaped.
    assert "### BEGIN SOLUTION\n    return x  # my own code" in page
    assert "student fake marker text" in page


def test_tracebacks_of_test_cells_are_cut() -> None:
    page = render_hostile()
    assert "AssertionError: shapes differ" in page
    assert "autograder/cases.py" not in page and "secret_frame" not in page
    # The student's own cells keep their traceback (ANSI codes removed).
    assert "step_frame_of_student" in page and "\x1b" not in page


def test_verdicts_are_escaped_and_above_test_outputs() -> None:
    page = render_hostile()
    escaped = "step(3) returned &lt;b&gt;wrong&lt;/b&gt; &amp; raised &lt;script&gt;"
    assert "returned <b>wrong" not in page
    first = page.index("Not passed: 0 of 2 points")
    assert page.index(escaped, first) < page.index("VISIBLE_TEST_OUTPUT") < page.index("AssertionError: shapes differ")
    assert page.index("points come from") < page.index("VISIBLE_TEST_OUTPUT")
    assert page.index("Passed: 2 of 2 points") < page.index("SECOND_TEST_OUTPUT")
    # The summary comes first and lists every part; the written answer is still to be graded.
    summary = page[: page.index("Your notebook</h2>")]
    for grade_id in ("test_step", "test_two", "written"):
        assert f"<td>{grade_id}</td>" in summary
    assert escaped in summary and "<td>passed</td>" in summary
    assert "to be graded by your instructor" in summary
    assert "2 of 7 points" in summary and "stu&lt;dent&gt;" in summary and "note &lt;i&gt;one&lt;/i&gt;" in summary


def test_output_and_page_caps() -> None:
    page = render_hostile()
    assert "A" * feedback.MAX_OUTPUT in page and "A" * (feedback.MAX_OUTPUT + 1) not in page
    assert "output cut" in page
    assert len(page) < 300_000
    chunk = "B" * (feedback.MAX_OUTPUT - 1)
    many = new_notebook(cells=[new_code_cell(f"print({i})", outputs=[stream(chunk)]) for i in range(400)])
    big = render(many, "a1", "s", 0, 0, "graded", [], [], [])
    assert len(big) <= feedback.MAX_PAGE
    assert "cells are not shown: the page reached its size limit" in big
    assert_inert(big)


def test_honest_notebook_renders_code_outputs_and_png() -> None:
    image = b64(png())
    nb = new_notebook(cells=[
        new_markdown_cell("# Title\n\nSome *text* and a [link](https://example.org).\n\n| a | b |\n|---|---|\n| 1 | 2 |"),
        answer_cell("import numpy as np\nx = np.ones(3) * 2\nprint(x.sum())", "ans",
                    outputs=[stream("6.0\n"),
                             new_output("execute_result", data={"text/plain": "array([2., 2., 2.])"}, execution_count=2),
                             display({"image/png": image, "text/plain": "<Figure size 640x480 with 1 Axes>"})]),
        test_cell('"""x sums to 6."""\nassert x.sum() == 6\n', "test_x", outputs=[]),
    ])
    page = render(nb, "a1_rnn", "alice", 2, 2, "graded", [], [PartVerdict("test_x", 2, 2, None)], [])
    parsed = assert_inert(page)
    assert "<h1>Title</h1>" in page and "<em>text</em>" in page and "<td>1</td>" in page
    assert "x = np.ones(3) * 2\nprint(x.sum())" in page and "6.0" in page and "array([2., 2., 2.])" in page
    assert [a["src"] for t, a in parsed.tags if t == "img"] == [f"data:image/png;base64,{image}"]
    assert "Passed: 2 of 2 points" in page and "assert x.sum() == 6" in page


def test_problem_page() -> None:
    page = render_problem("a1_rnn", "<bob>", "no notebook <script>", ["found <b>x.zip</b>"])
    assert_inert(page)
    assert "&lt;bob&gt;" in page and "no notebook &lt;script&gt;" in page and "found &lt;b&gt;x.zip&lt;/b&gt;" in page


def test_sanitizer_allow_list() -> None:
    clean = feedback.sanitize_html
    assert clean('<a href="mailto:a@b.c">m</a>') == '<a href="mailto:a@b.c" rel="noopener noreferrer">m</a>'
    assert clean('<a href="/relative">r</a>') == '<a rel="noopener noreferrer">r</a>'
    assert clean('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">') == '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    assert clean('<img src="data:image/png;base64,R0lGODlhAQABAAAAACw=">') == "[image not shown]"  # GIF posing as PNG
    assert clean('<img src="data:image/svg+xml;base64,PHN2Zz4=">') == "[image not shown]"
    assert clean('<img alt=\'a" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=\'>') == "[image not shown]"
    assert clean("<span id=x class=y style='color:red' title=t>s</span>") == '<span title="t">s</span>'
    assert clean("<table border=1 class=dataframe><tr><td colspan=2 onclick=x>1</td></tr></table>") == (
        '<table><tbody><tr><td colspan="2">1</td></tr></tbody></table>')


def test_formgraders_copy_is_inert():
    """The autograded/ copy is shown by Formgrader in the instructor's browser,
    unsanitized: it keeps plain text and images of the outputs only, and the
    HTML a student writes in markdown shows as text."""
    from autograder.grading.gradebook import inert

    answer = nbformat.v4.new_markdown_cell('My answer <img src=x onerror="alert(1)"> & more')
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "answer", "points": 5}
    given = nbformat.v4.new_markdown_cell("Given <b>text</b>")
    given.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "intro"}
    code = nbformat.v4.new_code_cell("display(...)")
    code.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<script>alert(2)</script>", "application/javascript": "alert(3)",
        "text/plain": "<p>shown as text</p>", "image/png": "iVBORw0KGgo="})]
    nb = inert(nbformat.v4.new_notebook(cells=[answer, given, code]))
    assert nb.cells[0].source == "My answer &lt;img src=x onerror=\"alert(1)\"&gt; &amp; more"
    assert nb.cells[1].source == "Given <b>text</b>"  # the assignment's own cells are as released
    assert set(nb.cells[2].outputs[0]["data"]) == {"text/plain", "image/png"}


def test_a_line_of_a_million_hashes_is_cheap():
    """The hidden-region search passes over a student's endless line of `#` once
    (cut first to twice what a page shows of any text)."""
    from autograder.grading.feedback import MAX_OUTPUT, _hide

    assert _hide("#" * 1_000_000) == "#" * (2 * MAX_OUTPUT)
    assert _hide("a\n  ## BEGIN HIDDEN TESTS\nsecret\n## END HIDDEN TESTS\nb") == "a\n[hidden tests: not shown]\nb"
