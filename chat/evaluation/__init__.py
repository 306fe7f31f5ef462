"""Evaluation: scoring medcite on labelled questions and messages, apart from answering them.

- ``questions``: question files (the corpus format, and questions with gold answer spans)
- ``metrics``: pure scoring functions, and the one table of answer metrics
- ``run``: running search and ask over a question set (``evaluate``)
- ``report``: the text table, JSON, per-question rows and TREC files of a run
- ``triage``: scoring emergency triage on labelled messages
"""
