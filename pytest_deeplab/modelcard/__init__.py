"""modelcard."""
