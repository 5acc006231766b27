"""In-memory adapters: real implementations of each port that keep data in this process."""
