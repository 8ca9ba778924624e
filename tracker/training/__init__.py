"""Training our own SiamFC weights: sequences, pair sampling, labels and losses, the loop."""
