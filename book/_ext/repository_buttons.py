"""The launch buttons (Binder, Colab) and the repository button only once the repository is published.

``repository.url`` in ``_config.yml`` is the one place the book's repository is named (the notebooks' install
cell uses it too, a test checks that). Until ``lrc_repository_published: true`` is set in ``_config.yml``'s
``sphinx.config``, the pages show no button that would lead a reader to an address that does not exist yet:
this empties the theme's ``launch_buttons`` and turns off its repository, issues, edit and source buttons.
"""


def _hide_until_published(app, config):
    if config.lrc_repository_published:
        return
    options = dict(config.html_theme_options or {})
    options["launch_buttons"] = {}
    for button in ("use_repository_button", "use_issues_button", "use_edit_page_button", "use_source_button"):
        options[button] = False
    config.html_theme_options = options


def setup(app):
    app.add_config_value("lrc_repository_published", False, "html")
    app.connect("config-inited", _hide_until_published)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
