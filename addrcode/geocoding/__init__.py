"""geocoding: see the README's Layout section."""
