"""Examples for partners: standalone scripts that import nothing from Tatawwu."""
