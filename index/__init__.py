"""The stored corpus: records, embedder, vector and lexical indexes, on-disk layout."""
