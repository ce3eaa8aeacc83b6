"""Tables and the whole report as Markdown (GitHub flavour; underline as <u>)."""
from __future__ import annotations

from ..tables.cells import Table, numeric_column


def _md_cell(text: str, emph: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    if emph == "best":
        return f"**{text}**"
    if emph == "second":
        return f"<u>{text}</u>"  # Markdown has no underline; GitHub and most viewers render <u>
    return text


def table_markdown(table: Table, heading: str = "###", marks: bool = True) -> str:
    """``marks=False``: plain text for a terminal, no bold / underline markup."""
    out = [f"{heading} {table.title}", ""]
    if table.rows:
        out.append("| " + " | ".join(h.replace("|", "\\|") for h in table.header) + " |")
        out.append("|" + "|".join("---:" if numeric_column(table, j) else "---" for j in range(len(table.header))) + "|")
        out += ["| " + " | ".join(_md_cell(c.text, table.emph(c) if marks else "") for c in row) + " |"
                for row in table.rows]
    else:
        out.append("_No rows._")
    out += [""] + [f"_{n}_" for n in table.notes] + ([""] if table.notes else [])
    return "\n".join(out)


def markdown_document(title: str, notes: list[str], tables: list[Table], figures: list[tuple[str, str]]) -> str:
    """``figures``: (path relative to the report, caption) of each PNG."""
    figs = [f"![{caption}]({path})" for path, caption in figures]
    doc = [f"# {title}", "", *[f"- {n}" for n in notes], "",
           *[table_markdown(t, "##") for t in tables], "## Figures", "", *figs, ""]
    return "\n".join(doc)
