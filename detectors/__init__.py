"""The detectors of the classical stage. Importing this package registers the built-in ones, in the
order their flags are raised (tamper first: a covered lens must be reported whatever else happens).
`people` comes before the detectors that read `ctx.people` (crowding, face, loitering).

A new detector is one module here plus its line below; see docs/architecture.md.
"""

from detectors import tamper, people, crowding, fight, left_object, face, loitering  # noqa: F401  (registration order)
