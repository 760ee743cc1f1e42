"""The registry's HTTP API: signed writes through a durable journal, and reads from the mirror."""
