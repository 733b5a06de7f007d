"""Theory: the chapter ``notebooks/theory.ipynb``. ``study`` computes its tables (``Params``, ``compute``),
``readings`` reads them and ``figures`` draws them."""
