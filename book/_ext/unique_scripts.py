"""Write each inline script once per page.

Sphinx 7.4 keeps a script added with ``app.add_js_file(None, body=...)`` after the builder started twice:
once as given (file name ``None``) and once from its registry (file name ``""``), which do not compare
equal. sphinx-thebe adds ``const THEBE_JS_URL = ...`` that way, so every page declared the constant twice
and the browser logged "Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared"
(sphinx-togglebutton's ``var togglebuttonSelector`` is repeated the same way, silently). This drops the
second copy of any script whose file name, attributes and body are those of an earlier one. It runs after
every other handler of the page (priority 900), on the page's own list, so nothing else is changed.
"""


def _key(script):
    if isinstance(script, str):  # a plain file name, as older extensions may pass
        return (script, ())
    return (script.filename or "", tuple(sorted((k, str(v)) for k, v in script.attributes.items())))


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    if "script_files" not in context:
        return
    seen, unique = set(), []
    for script in context["script_files"]:
        if (key := _key(script)) not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
