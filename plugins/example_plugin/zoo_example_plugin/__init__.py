"""An example zoo plugin; its components live in `zoo_example_plugin.models`."""
