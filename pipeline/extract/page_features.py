"""A page's structure in five numbers, from the lxml tree trafilatura parses anyway: what the web-type classifier
(`classifiers.webtype`) reads besides the text, since a listing or a product page shows its type in its markup
more than in its words.

Use: `tree = trafilatura.utils.load_html(html)`, `page_features(tree)`, then `trafilatura.extract(tree, ...)`
(extract takes the tree as it is, so the page is parsed once). Columns, in extract-stage order:
page_title (string), page_link_density (float32: words inside <a> / words of the body),
page_list_items (int32: <li>), page_forms (int32: <form>), page_comment_blocks (int32: elements whose class or id
names a comment, outermost only).

`[extract] page_type` (on by default) adds page_type (string: one of pipeline.extract.page_type.PAGE_TYPES, from
the page-type model; null when lexbor finds no text blocks) and page_type_score (float32: its probability), on both
extractors' pages: the classify stage's default web type.
"""

from __future__ import annotations

PAGE_FEATURE_COLUMNS = (("page_title", "string"), ("page_link_density", "float32"), ("page_list_items", "int32"),
                        ("page_forms", "int32"), ("page_comment_blocks", "int32"))
PAGE_TYPE_COLUMNS = (("page_type", "string"), ("page_type_score", "float32"))
_COMMENT = "contains(translate(concat(@class, ' ', @id), 'COMENT', 'coment'), 'comment')"


def page_columns(config) -> tuple[tuple[str, str], ...]:
    """(name, Arrow type) of the page columns an [extract] config writes after the document's own."""
    return (PAGE_FEATURE_COLUMNS if config.page_features else ()) + (PAGE_TYPE_COLUMNS if config.page_type else ())


def page_features(tree) -> dict:
    """The five features of a parsed page (an lxml HtmlElement); a page without a tree gets empty values."""
    if tree is None:
        return {"page_title": None, "page_link_density": None, "page_list_items": None, "page_forms": None,
                "page_comment_blocks": None}
    title = tree.findtext(".//title") or tree.findtext(".//h1") or ""
    body = tree.find(".//body")
    root = body if body is not None else tree
    total = len("".join(root.itertext()).split())
    linked = sum(len("".join(a.itertext()).split()) for a in root.iter("a"))
    comments = root.xpath(f".//*[{_COMMENT}][not(ancestor::*[{_COMMENT}])]")
    return {
        "page_title": " ".join(title.split())[:300] or None,
        "page_link_density": round(linked / total, 4) if total else 0.0,
        "page_list_items": sum(1 for _ in root.iter("li")),
        "page_forms": sum(1 for _ in root.iter("form")),
        "page_comment_blocks": len(comments),
    }
