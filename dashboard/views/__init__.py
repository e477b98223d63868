"""Views: thin functions that read through selectors and write through services."""
