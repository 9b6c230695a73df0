"""Root conftest: the scs test fixtures serve the core, the plugins and tests/."""

pytest_plugins = ["scs_server.testing"]
