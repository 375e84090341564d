"""``localvoice bench``: timings of every stage of a voice turn, and the streaming pipeline side by side
with the naive wait-then-speak loop. See BENCHMARKS.md for the latest numbers."""
