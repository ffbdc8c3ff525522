"""The lookup endpoint written as a user of each framework would write it, for comparison.

Each module is one small app, run under uvicorn as that framework's users run it. They serve the
same database as `swr-official-images serve` (SWR_DATABASE_URL), check the token against the same
hashed-token table, and answer the same statuses and JSON, SWR's error body included, so that
`python -m bench` can check they agree before it measures them. What they share is in `store`.
"""
