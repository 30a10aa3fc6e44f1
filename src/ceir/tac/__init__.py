"""Device models by TAC (type allocation code), from the GSMA TAC database."""
