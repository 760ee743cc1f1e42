"""Chain events -> SQL mirror (arrives with the indexer issue)."""
