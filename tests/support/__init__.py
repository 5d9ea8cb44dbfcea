"""Real servers for the tests, started from the system's binaries on 127.0.0.1."""
