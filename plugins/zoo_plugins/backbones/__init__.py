"""First-party backbones: a module reads [B, C, T, H, W] and returns a map [B, D, t, h, w]."""
