"""Attacks on medseal's privacy modes, one attack per module; each reports a success rate."""
