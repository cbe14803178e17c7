"""The files that cross a step boundary of the guide, one module per format, each written and read in one place."""
