"""Pages: thin functions that read through selectors and write through services.

One module per page family (fleet, queue, verdicts, decisions, pipelines, policies, records);
`access` holds the role checks and the friendly refusals they share.
"""
