"""make_pdf: Markdown to a real PDF (reportlab), written under the folder's `output/`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool

MAX_MARKDOWN = 200_000
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CODE_LINE = 92  # characters of a code line before it wraps, at 8.5 pt on A4


class MakePdfArgs(ToolArgs):
    path: str = Field(..., min_length=5, max_length=512,
                      description="Where to write it, under output/ in the folder, ending in .pdf")
    title: str = Field(..., min_length=1, max_length=200, description="The document's title")
    markdown: str = Field(..., max_length=MAX_MARKDOWN,
                          description="The content: headings, paragraphs, lists, code blocks, **bold**, *italic*")


def _target(args: MakePdfArgs, ctx: ToolContext) -> Path:
    if not args.path.lower().endswith(".pdf"):
        raise ToolError(f"{args.path!r}: the file name must end in .pdf")
    path = ctx.workspace.resolve(args.path)
    output = ctx.workspace.resolve("output")
    if not path.is_relative_to(output) or path == output:
        raise ToolError(f"{args.path!r}: a PDF is written under output/ (e.g. output/report.pdf)")
    if path.is_dir():
        raise ToolError(f"{args.path!r} is a folder")
    return path


def _fonts() -> tuple[str, str]:
    """(body, code) font families: DejaVu where the system has it (it covers far more than
    Latin-1), else the PDF standard fonts."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    faces = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
             "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf",
             "DejaVuSansMono": "DejaVuSansMono.ttf"}
    if not all((FONT_DIR / file).is_file() for file in faces.values()):
        return "Helvetica", "Courier"
    try:
        for name, file in faces.items():
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))
        for bold, italic, face in ((0, 0, "DejaVuSans"), (1, 0, "DejaVuSans-Bold"), (0, 1, "DejaVuSans-Oblique"),
                                   (1, 1, "DejaVuSans-BoldOblique")):
            addMapping("DejaVuSans", bold, italic, face)
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping("DejaVuSansMono", bold, italic, "DejaVuSansMono")
    except Exception:  # a broken font file: the standard fonts still make a PDF
        return "Helvetica", "Courier"
    return "DejaVuSans", "DejaVuSansMono"


def _styles(body: str, code: str) -> dict:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    styles = {"title": ParagraphStyle("title", parent=base["Title"], fontName=body),
              "body": ParagraphStyle("body", parent=base["BodyText"], fontName=body, spaceAfter=6, leading=14),
              "code": ParagraphStyle("code", parent=base["Code"], fontName=code, fontSize=8.5, leading=10.5,
                                     backColor="#f3f3f3", borderPadding=4, spaceBefore=4, spaceAfter=8)}
    for level in range(1, 7):
        parent = base[f"Heading{min(level, 6)}"]
        styles[f"h{level}"] = ParagraphStyle(f"h{level}", parent=parent, fontName=body)
    return styles


def _inline(children, code_font: str) -> str:
    """A Markdown inline run as reportlab's paragraph markup (its own small XML)."""
    out = []
    for token in children or []:
        kind = token.type
        if kind == "text":
            out.append(escape(token.content))
        elif kind in ("strong_open", "strong_close"):
            out.append("<b>" if kind.endswith("open") else "</b>")
        elif kind in ("em_open", "em_close"):
            out.append("<i>" if kind.endswith("open") else "</i>")
        elif kind in ("s_open", "s_close"):
            out.append("<strike>" if kind.endswith("open") else "</strike>")
        elif kind == "code_inline":
            out.append(f'<font face="{code_font}">{escape(token.content)}</font>')
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("<br/>")
        elif kind == "link_open":
            href = str(token.attrs.get("href", ""))
            out.append(f'<a href="{escape(href, {chr(34): "&quot;"})}" color="#1a4f9c">'
                       if href.startswith(("http://", "https://", "mailto:")) else "<a>")
        elif kind == "link_close":
            out.append("</a>")
        elif kind == "image":
            out.append(escape(f"[image: {token.content or token.attrs.get('src', '')}]"))
        else:  # inline HTML and anything else: shown as the text it is
            out.append(escape(token.content))
    return "".join(out)


def _flowables(markdown: str, styles: dict, code_font: str) -> list:
    from markdown_it import MarkdownIt
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import HRFlowable, Paragraph, Preformatted, Spacer

    tokens = MarkdownIt("commonmark").enable("strikethrough").parse(markdown)
    story: list = []
    lists: list[list] = []  # per open list: [ordered, next number]
    item_first: list[bool] = []  # per open list item: its first paragraph carries the bullet
    quotes = 0
    heading = None
    for token in tokens:
        kind = token.type
        indent = 18 * len(lists) + 14 * quotes
        if kind == "heading_open":
            heading = token.tag
        elif kind == "heading_close":
            heading = None
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([kind == "ordered_list_open", int(token.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                story.append(Spacer(1, 4))
        elif kind == "list_item_open":
            item_first.append(True)
        elif kind == "list_item_close":
            item_first.pop()
        elif kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes -= 1
        elif kind == "hr":
            story.append(HRFlowable(width="100%", thickness=0.6, color="#999999", spaceBefore=6, spaceAfter=6))
        elif kind in ("fence", "code_block", "html_block"):
            style = ParagraphStyle(f"code{indent}", parent=styles["code"], leftIndent=indent + 4)
            story.append(Preformatted(token.content.rstrip("\n") or " ", style, maxLineLength=CODE_LINE,
                                      newLineChars=""))
        elif kind == "inline":
            text = _inline(token.children, code_font)
            if heading:
                story.append(Paragraph(text, styles[heading]))
                continue
            bullet = None
            if item_first and item_first[-1]:
                item_first[-1] = False
                ordered = lists[-1]
                bullet = f"{ordered[1]}." if ordered[0] else "•"
                ordered[1] += 1
            style = ParagraphStyle(f"p{indent}", parent=styles["body"], leftIndent=indent,
                                   bulletIndent=max(0, indent - 14), spaceAfter=2 if lists else 6,
                                   textColor="#444444" if quotes else styles["body"].textColor)
            story.append(Paragraph(text, style, bulletText=bullet))
    return story


def _preview(args: MakePdfArgs, ctx: ToolContext) -> str:
    path = _target(args, ctx)
    verb = "replace" if path.exists() else "create"
    return f"{verb} {args.path}: a PDF titled {args.title!r} from {len(args.markdown)} characters of Markdown"


def _made(out: dict) -> str:
    return f"made {out['path']} ({out['pages']} page(s), {out['bytes']} bytes)"


@tool(permissions=["write"], tag="write", preview=_preview, folder_only=True, render=_made)
def make_pdf(args: MakePdfArgs, ctx: ToolContext) -> dict:
    """Make a PDF from Markdown (headings, lists, code blocks, bold, italic) under output/."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    path = _target(args, ctx)
    ctx.workspace.resolve(os.path.relpath(path.parent, ctx.workspace.root))
    path.parent.mkdir(parents=True, exist_ok=True)
    body_font, code_font = _fonts()
    styles = _styles(body_font, code_font)
    story = [Paragraph(escape(args.title), styles["title"]), *_flowables(args.markdown, styles, code_font)]
    # Built beside the target and renamed, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pdf-", suffix=".pdf")
    os.close(fd)
    try:
        doc = SimpleDocTemplate(tmp, pagesize=A4, title=args.title, author="llm-planner",
                                leftMargin=56, rightMargin=56, topMargin=56, bottomMargin=56)
        try:
            doc.build(story)
        except Exception as exc:  # reportlab refuses what it cannot lay out (a cell wider than a page)
            raise ToolError(f"the PDF could not be laid out ({type(exc).__name__}: {str(exc)[:200]})") from None
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"path": ctx.workspace.relative(path), "pages": doc.page, "bytes": path.stat().st_size}
