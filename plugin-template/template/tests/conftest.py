"""The scs test fixtures (scs_factory, scs_server, scs_process...) come from scs-server."""

pytest_plugins = ["scs_server.testing"]
