"""What serves the model whatever the protocol: the repository of versions, the backends,
and the batchers that let concurrent requests share one model call."""
