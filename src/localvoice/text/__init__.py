"""Text between the LLM and the voice, Chinese first.

Per reply: ``chunker.SentenceChunker`` cuts the streamed deltas into clauses; per clause,
``normalize.SpeechFilter.feed`` drops what should not be spoken (markdown, code blocks, emoji, URLs);
``script.dominant_language`` / ``script.split_by_script`` pick the voice; ``numbers.verbalize`` spells
out numbers, dates, times, money and units in that language.

Nothing is imported here, so ``import localvoice.text.chunker`` stays free of the ``cn2an`` and
``num2words`` dependencies that only ``numbers`` needs.
"""
