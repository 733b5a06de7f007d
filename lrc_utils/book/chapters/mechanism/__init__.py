"""What drives the fall of local rank: Figure 1's two networks under the arms of ``book/mechanism_design.md``."""
