"""Figure 2: the chapter ``notebooks/figure2.ipynb``. ``study`` computes its tables (``Params``, ``compute``) and
``figures`` draws them."""
