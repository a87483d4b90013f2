"""Source adapters: find the videos under a data root and read whatever annotations they come with."""
