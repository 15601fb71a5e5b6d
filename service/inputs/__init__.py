"""Request bodies to the digits the network reads: bytes → image → ink → digits → 28×28.

``bodies`` splits a request into its images and arrays and decides where each is decoded;
``images`` decodes bytes (Pillow); ``arrays`` checks JSON arrays; ``photos`` finds the digit,
or a number's digits, in a picture: ``ink`` (where the ink is, OpenCV), ``digits`` (which ink
is a digit), ``mnist_form`` (the 20x20 box, centred by mass, as MNIST was made).
"""
