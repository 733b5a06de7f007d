"""The MI estimators: the chapter ``notebooks/mi_estimators.ipynb``. ``study`` computes its tables (``Params``,
``compute``), ``readings`` reads them and ``figures`` draws them."""
