"""Suite-wide pytest configuration: register the shared real-server fixtures."""

pytest_plugins = [
    "tests.support.servers",
    "tests.support.sandbox",
    "tests.support.conformance",
    "tests.support.stack",
    "tests.support.provisioning",
]
