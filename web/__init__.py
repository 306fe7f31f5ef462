"""medcite web."""
