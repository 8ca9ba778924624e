"""The network: backbones, head, SiamNet, BatchNorm folding, precision, int8 and weight files."""
