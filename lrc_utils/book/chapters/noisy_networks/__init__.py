"""Noisy networks: the chapter ``notebooks/noisy_networks.ipynb``. ``study`` computes its tables (``Params``,
``compute``), ``readings`` reads them and ``figures`` draws them."""
