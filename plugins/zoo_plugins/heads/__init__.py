"""First-party temporal heads: [B, D, t, h, w] -> logits [B, num_classes]."""
