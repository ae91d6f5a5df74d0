"""Everything that depends on Lightning lives in this package."""
