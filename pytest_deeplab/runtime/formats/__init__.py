"""Model formats, one module each (keras.py: Keras 3 `.keras` files and their safety check)."""
