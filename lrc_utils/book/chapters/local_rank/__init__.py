"""The local-rank chapter: the chapter ``notebooks/local_rank.ipynb``. ``study`` computes its tables (``Params``,
``compute``) and ``figures`` draws them."""
