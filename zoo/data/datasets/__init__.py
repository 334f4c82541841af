"""Dataset adapters, one module per dataset; each registers its factories with
`zoo.registry.register_dataset` and is reached through the ``zoo.datasets`` entry points."""
