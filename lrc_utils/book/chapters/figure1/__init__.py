"""Figure 1: the chapter ``notebooks/figure1.ipynb``. ``study`` computes its tables (``Params``, ``compute``),
``readings`` reads them and ``figures`` draws them."""
