"""Services: the only code that writes models and calls the engine (`selfheal`)."""
