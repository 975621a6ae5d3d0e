"""Function-calling tasks: BFCL (vendored data, collabzoo's own AST checker)."""
