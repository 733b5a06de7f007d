"""Figure 3: the chapter ``notebooks/figure3.ipynb``. ``study`` computes its tables (``Params``, ``compute``) and
``figures`` draws them."""
