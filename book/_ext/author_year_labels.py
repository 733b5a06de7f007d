"""Label the bibliography the way the text cites it.

With ``bibtex_reference_style: author_year``, sphinxcontrib-bibtex renders ``{cite:p}`alemi2017deep``` as
"[Alemi et al., 2017]" and ``{cite:t}`alemi2017deep``` as "Alemi et al. [2017]", but labels the entry in the
bibliography with the formatting style's own labels ("[AFDM17]" for its default, alpha). This registers a
pybtex formatting style, ``author_year_labels`` (pybtex's ``plain``: sorted by author, year, title), whose
label for each entry is the text of its parenthetical citation, rendered by the same author-year template
as the citations, so the list reads "[Alemi et al., 2017]" too. Two works that would be cited alike stop the
build with an error (author-year citations have no "2017a/2017b" suffixes to tell them apart).
"""

from collections import Counter

import pybtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.errors import ConfigError
from sphinxcontrib.bibtex.plugin import find_plugin
from sphinxcontrib.bibtex.style.template import join, year

NAME = "author_year_labels"
REFERENCE_STYLE = "author_year"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Label = the parenthetical author-year citation text, e.g. "Patel and Shwartz-Ziv, 2024"."""

    def format_labels(self, sorted_entries):
        sorted_entries = list(sorted_entries)
        parenthetical = find_plugin("sphinxcontrib.bibtex.style.referencing", REFERENCE_STYLE)().styles[0]
        template = join(sep=parenthetical.author_year_sep)[
            parenthetical.person.author_or_editor_or_title(full=False), year]
        labels = [template.format_data({"entry": entry, "style": parenthetical}).render_as("text")
                  for entry in sorted_entries]
        alike = {label: [e.key for e, lab in zip(sorted_entries, labels) if lab == label]
                 for label, count in Counter(labels).items() if count > 1}
        if alike:
            raise ValueError(f"works that would be cited alike in author-year style: {alike}; "
                             "an author-year bibliography needs every (authors, year) to be distinct")
        yield from labels


class AuthorYearLabelledStyle(PlainStyle):
    default_label_style = NAME


def _check_reference_style(app, config):
    if config.bibtex_default_style == NAME and config.bibtex_reference_style != REFERENCE_STYLE:
        raise ConfigError(f"bibtex_default_style {NAME!r} labels the bibliography in the {REFERENCE_STYLE!r} "
                          f"citation style, but bibtex_reference_style is {config.bibtex_reference_style!r}")


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.labels", NAME, AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", NAME, AuthorYearLabelledStyle)
    app.connect("config-inited", _check_reference_style)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
