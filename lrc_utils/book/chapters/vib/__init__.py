"""What Figures 2 and 3 share: the Deep VIB grid over beta (``grid``), its readings and figures."""
