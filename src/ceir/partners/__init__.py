"""Partners: marketplaces and shops checking IMEIs in bulk, recording sales; importers' keys."""
