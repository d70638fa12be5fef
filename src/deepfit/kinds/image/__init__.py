"""The image kind: pictures from files, decoded, resized and normalised; batches for the loop."""

NAME = "image"
