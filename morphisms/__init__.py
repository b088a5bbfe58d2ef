"""Network morphisms: operators mapping (genome, trained weights) to (child genome, child weights)."""
