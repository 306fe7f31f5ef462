"""medcite ingest."""
