"""Readers for the file formats datasets come in (IDX, CIFAR pickles, npz, MATLAB, image folders)."""
