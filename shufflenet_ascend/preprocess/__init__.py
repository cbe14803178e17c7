"""Chapter 4 of the guide, the dataset's preprocessing: images to the model's ``.bin`` inputs, and the info file.

``transform`` (one image to one input, in either route: float32 CHW or uint8 HWC), ``record`` (the source folder
and the record of what each bin was made from), ``folder`` (a whole folder: workers, resume, failures, stops),
``info_entries`` (the lines of the info file), ``bin_sizes`` (bins of the wrong size refused before inference),
``names`` (file names as UTF-8 text without whitespace; folder entries that cannot be read).
"""
