"""outputs: see the README's Layout section."""
