"""Chapter 4 of the guide, the dataset's preprocessing: images to the model's ``.bin`` inputs, and the info file.

``transform`` (one image to one input), ``record`` (the source folder and the record of what each bin was made
from), ``folder`` (a whole folder: workers, resume, failures), ``info_entries`` (the lines of the info file),
``names`` (file names as UTF-8 text).
"""
