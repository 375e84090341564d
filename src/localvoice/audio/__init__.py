"""Audio at the edges: files, resampling, devices and sinks."""
