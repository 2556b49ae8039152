"""codes: see the README's Layout section."""
