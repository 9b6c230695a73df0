"""The scs test fixtures (scs_factory, scs_server, scs_process...) come from scs-core."""

pytest_plugins = ["scs.testing"]
