"""First-party fusions: late (class scores) and mid-level (feature maps)."""
