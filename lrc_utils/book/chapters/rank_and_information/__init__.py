"""Rank and information: the chapter ``notebooks/rank_and_information.ipynb``. ``study`` computes its tables
(``Params``, ``compute``), ``readings`` reads them and ``figures`` draws them."""
