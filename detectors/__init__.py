"""The detectors of the classical stage. Importing this package registers the built-in ones, in the
order their flags are raised (tamper first: a covered lens must be reported whatever else happens).
`people` comes before the detectors that read `ctx.people` (skimming, surfing, crowding, face, loitering);
`skimming` before those that read the fascia it publishes (surfing, left_object).

A new detector is one module here plus its line below; see docs/architecture.md.
"""

# noqa: F401 below: imported for their registration, in this order
from detectors import tamper, people, skimming, surfing, crowding, fight, left_object, face, loitering  # noqa: F401
