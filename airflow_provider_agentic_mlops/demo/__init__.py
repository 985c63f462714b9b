"""The demo model: a fraud detector on generated transactions, and the command that sets it all up."""
