"""The report as one self-contained HTML file: inline CSS, plots as base64 PNG, no script.

No external font, stylesheet or image, so it opens offline and can be mailed."""
from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from ..tables.cells import Table, numeric_column

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1400px;
 padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
ul.notes{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.8rem 1.2rem .8rem 2rem}
nav a{margin-right:.9rem;font-size:.9rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.82rem;font-variant-numeric:tabular-nums;margin:.6rem 0}
thead th{border-top:2px solid #222;border-bottom:1px solid #222;padding:.3rem .6rem;text-align:right}
tbody td{padding:.22rem .6rem;text-align:right;white-space:nowrap}
tbody tr:last-child td{border-bottom:2px solid #222}
th:first-child,td:first-child,th.text,td.text{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
td.best{font-weight:700}td.second{text-decoration:underline}
td.missing{color:#999}td.error{white-space:normal;max-width:40rem;font-family:monospace}
p.note{font-size:.8rem;color:#555;margin:.2rem 0}
figure{margin:1.2rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.8rem;color:#555}
.status-failed{color:#b00020;font-weight:600}.status-diverged{color:#b26a00;font-weight:600}
"""


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def table_html(table: Table) -> str:
    out = [f'<section id="{_anchor(table.name)}"><h2>{escape(table.title)}</h2>']
    if table.rows:
        numeric = [numeric_column(table, j) for j in range(len(table.header))]
        out.append('<div class="scroll"><table><thead><tr>'
                   + "".join(f"<th>{escape(h)}</th>" if num else f'<th class="text">{escape(h)}</th>'
                             for h, num in zip(table.header, numeric)) + "</tr></thead><tbody>")
        for row in table.rows:
            tds = []
            for i, cell in enumerate(row):
                classes = [table.emph(cell)] if table.emph(cell) else []
                if not numeric[i]:
                    classes.append("text")
                if cell.text == "–":
                    classes.append("missing")
                if table.kind == "problems" and i == 0:  # a status, coloured
                    classes.append(f"status-{cell.text}")
                if table.kind == "problems" and i == len(row) - 1:  # an error message, wrapped
                    classes.append("error")
                cls = f' class="{" ".join(classes)}"' if classes else ""
                tds.append(f"<td{cls}>{escape(cell.text)}</td>")
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table></div>")
    else:
        out.append('<p class="note">No rows.</p>')
    out += [f'<p class="note">{escape(n)}</p>' for n in table.notes]
    out.append("</section>")
    return "\n".join(out)


def figure_html(png: Path, caption: str) -> str:
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def html_document(title: str, notes: list[str], tables: list[Table], figures: list[tuple[Path, str]]) -> str:
    nav = "".join(f'<a href="#{_anchor(t.name)}">{escape(t.short)}</a>' for t in tables)
    nav += '<a href="#figures">Figures</a>'
    body = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>",
        f"<nav>{nav}</nav>",
        *[table_html(t) for t in tables],
        '<section id="figures"><h2>Figures</h2>',
        *[figure_html(p, c) for p, c in figures],
        "</section></body></html>",
    ]
    return "\n".join(body) + "\n"
