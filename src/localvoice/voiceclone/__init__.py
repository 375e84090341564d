"""Voice cloning with GPT-SoVITS: the user's voices, and preparing training data for them."""
