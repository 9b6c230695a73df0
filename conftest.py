"""Root conftest: the scs test fixtures serve the core, the plugins and tests/."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["scs_server.testing"]

# CI machines are shared and noisy: slow data generation and slow examples say nothing
# about the code under test (a test's own @settings still takes precedence)
settings.register_profile(
    "scs", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("scs")
