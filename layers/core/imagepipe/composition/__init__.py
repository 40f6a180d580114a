"""Each handler's adapters, built once per process: one small module per concern.

A function's ``app.py`` is its composition root: it imports the modules of the adapters it
uses and nothing else, so a cold start loads only what that function runs (bench/coldstart.py
measures it). ``imagepipe.wiring`` resets them all (tests, the local runtime).
"""
