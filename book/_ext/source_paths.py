"""Point the launch and source buttons of executed notebooks at their source notebooks.

The book renders ``executed/<name>.ipynb`` (papermill's output, not committed); the repository holds the
same notebook, without outputs, as ``notebooks/<name>.ipynb``. Binder, Colab and the repository buttons
must open the latter. This runs after sphinx-book-theme has built its buttons (priority 501).
"""

EXECUTED, SOURCE = "executed/", "notebooks/"


def _rewrite(node):
    if isinstance(node, dict):
        return {k: (v.replace(EXECUTED, SOURCE) if k == "url" and isinstance(v, str) and v.startswith("http")
                    else _rewrite(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


def _fix_buttons(app, pagename, templatename, context, doctree):
    if pagename.startswith(EXECUTED) and "header_buttons" in context:
        context["header_buttons"] = _rewrite(context["header_buttons"])


def setup(app):
    app.connect("html-page-context", _fix_buttons, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
