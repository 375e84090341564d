"""Voice activity detection backends (speech probability per fixed-size frame)."""
