"""Stop the HTML build when the MathJax that the book ships is not installed.

_config.yml points Sphinx's ``mathjax_path`` at a file under ``html_static_path`` (``book/_static/mathjax``,
unpacked from the npm registry package by ``make mathjax``, not committed). Sphinx would otherwise build
every page with a script tag to a file that is not there, and every formula would show as raw TeX.
"""

from pathlib import Path

from sphinx.errors import ConfigError


def _check_mathjax(app):
    if app.builder.format != "html":
        return
    path = app.config.mathjax_path
    if "://" in path or path.startswith("/"):
        raise ConfigError(f"mathjax_path must be a file under html_static_path (the book ships MathJax), got {path!r}")
    static_dirs = [Path(app.confdir, entry) for entry in app.config.html_static_path]
    if not any((folder / path).is_file() for folder in static_dirs):
        # (Sphinx has already dropped a missing html_static_path folder from the list, with a warning.)
        raise ConfigError(f"MathJax is not installed: mathjax_path {path!r} is in no html_static_path folder. "
                          "Run `make mathjax` (it unpacks the npm package mathjax into book/_static/mathjax), "
                          "then build again.")


def setup(app):
    app.connect("builder-inited", _check_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
