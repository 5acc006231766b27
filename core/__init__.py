"""The hexagon's inside: the kernel every context shares, the context-free runtime, the contexts."""
