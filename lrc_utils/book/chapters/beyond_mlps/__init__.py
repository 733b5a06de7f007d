"""Beyond MLPs: the terminal-phase fall of local rank in a small CNN and a small residual network on MNIST and
Fashion-MNIST, by layer name (``book/beyond_mlps_design.md``)."""
