"""Information planes: the chapter ``notebooks/information_planes.ipynb``. ``study`` computes its tables (``Params``,
``compute``), ``readings`` reads them and ``figures`` draws them."""
