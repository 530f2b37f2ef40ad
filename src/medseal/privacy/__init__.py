"""Privacy-preserving representations of images: keyed masking, MORE, CKKS (stage after vault)."""
