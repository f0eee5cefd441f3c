"""Model cards (`pytest-deeplab inspect`): what a model file is, measured, beside what the zoo says.

    structure.py  the TF-free analysis: output stride, atrous rates, ASPP, decoder, from a small
                  description of the network that runtime/graph_inspect and tflite_inspect build
    card.py       the card: measured vs published figures, the official entry it matches, text
"""
