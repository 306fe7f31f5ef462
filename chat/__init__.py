"""medcite chat."""
