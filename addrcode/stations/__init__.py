"""stations: see the README's Layout section."""
