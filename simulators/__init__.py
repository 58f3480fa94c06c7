"""Wire-true device simulators, a private broker, and the demo warehouse."""
