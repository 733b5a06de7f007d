"""The book's pipeline (``pip install lrc-utils[book]``): running the chapters' notebooks at a preset
(:mod:`~lrc_utils.book.runner`), storing and reusing their tables (:mod:`~lrc_utils.book.store`), a notebook's
set-up (:mod:`~lrc_utils.book.notebook`), the fingerprints that keep committed tables in step with the code
(:mod:`~lrc_utils.book.fingerprint`), the claims table (:mod:`~lrc_utils.book.claims`), runs on Dask
(:mod:`~lrc_utils.book.cluster`, extra ``[cluster]``), the figures' shared style (:mod:`~lrc_utils.book.style`),
readings several chapters share (:mod:`~lrc_utils.book.readings`), and one folder per chapter
(:mod:`lrc_utils.book.chapters`). The core (:mod:`lrc_utils`) never imports it."""
