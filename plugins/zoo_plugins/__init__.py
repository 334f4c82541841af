"""First-party zoo components, registered through entry points like any plugin."""
