"""The ``modelyard`` command line: thin commands over the services."""
