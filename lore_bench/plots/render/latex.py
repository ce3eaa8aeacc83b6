"""Tables as LaTeX (booktabs) floats and the whole report as a compilable LaTeX document."""
from __future__ import annotations

import re

from ..tables.cells import Table, numeric_column


_TEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "–": "--", "—": "---", "−": "$-$", "Δ": r"$\Delta$", "→": r"$\rightarrow$",
    "·": r"\textperiodcentered{}", "…": r"\ldots{}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


def tex_escape(text: str) -> str:
    """One pass over the characters, so an escape is never escaped again; any
    other non-ASCII character (from an error message) becomes '?' because
    pdfLaTeX would stop on it."""
    text = str(text)
    if text.isascii() and not _ASCII_SPECIAL.search(text):
        return text  # the common case (numbers, names), without a per-character loop
    return "".join(_TEX.get(ch, ch if ord(ch) < 128 else "?") for ch in text)


_ASCII_SPECIAL = re.compile("[" + re.escape("".join(ch for ch in _TEX if ord(ch) < 128)) + "]")


def _tex_cell(text: str, emph: str) -> str:
    text = tex_escape(text)
    if emph == "best":
        return rf"\textbf{{{text}}}"
    if emph == "second":
        return rf"\underline{{{text}}}"
    return text


LONG_TABLE_ROWS = 40  # past this a float would run off the page: use longtable


def table_latex(table: Table) -> str:
    """A booktabs table; needs \\usepackage{booktabs,graphicx,longtable}."""
    cols = "".join("r" if numeric_column(table, j) else "l" for j in range(len(table.header)))
    head = " & ".join(tex_escape(h) for h in table.header) + r" \\"
    body = [" & ".join(_tex_cell(c.text, table.emph(c)) for c in row) + r" \\" for row in table.rows]
    if not body:
        body = [rf"\multicolumn{{{len(table.header)}}}{{c}}{{no rows}} \\"]
    notes = [tex_escape(n) for n in table.notes]
    # LaTeX numbers tables itself: "Table 3: Table 1 · ..." would confuse, so the
    # paper's table number moves to the end ("layout of LORE Table 1").
    title, layout = table.title, ""
    m = re.match(r"(Table \d+) · (.*)", title)
    if m:
        title, layout = m.group(2), f" (layout of LORE {m.group(1)})"
    caption = tex_escape(title + layout) + (". " + " ".join(notes) if notes else "")
    label = rf"\label{{tab:{table.name.replace('_', '-')}}}"
    if len(table.rows) > LONG_TABLE_ROWS:
        return "\n".join([
            rf"\begin{{longtable}}{{{cols}}}", rf"\caption{{{caption}}}{label} \\", r"\toprule", head, r"\midrule",
            r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot",
            *body, r"\end{longtable}", "",
        ])
    # Shrink wide tables to the text width, never enlarge narrow ones.
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", rf"\caption{{{caption}}}{label}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"\begin{{tabular}}{{{cols}}}", r"\toprule", head, r"\midrule", *body, r"\bottomrule",
        r"\end{tabular}}", r"\end{table}", "",
    ])


def latex_document(title: str, notes: list[str], tables: list[Table], figures: list[str]) -> str:
    """A compilable report: pdflatex report.tex (figures/ next to it)."""
    parts = [
        r"\documentclass[10pt]{article}",
        r"\usepackage[T1]{fontenc}", r"\usepackage[a4paper,landscape,margin=1.5cm]{geometry}",
        r"\usepackage{booktabs}", r"\usepackage{graphicx}", r"\usepackage{longtable}",
        rf"\title{{{tex_escape(title)}}}", r"\date{}", r"\begin{document}", r"\maketitle",
        r"\begin{itemize}", *[rf"\item {tex_escape(n)}" for n in notes], r"\end{itemize}",
    ]
    parts += [table_latex(t) for t in tables]
    for fig in figures:
        parts += [r"\begin{figure}[htbp]", r"\centering",
                  rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]{{{fig}}}",
                  r"\end{figure}"]
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"

