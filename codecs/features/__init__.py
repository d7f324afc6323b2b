"""Feature sets: the folder format, importing foreign sets, the official sample lists, synthetic features."""
