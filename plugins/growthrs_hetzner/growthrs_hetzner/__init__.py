"""The Hetzner Cloud provider for GrowthRS."""
