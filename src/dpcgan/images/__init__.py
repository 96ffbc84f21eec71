"""Labeled images: the command-line paths of the image modality (modality.py): train, resume, sample, evaluate."""
