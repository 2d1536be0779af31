"""The type families moved to :mod:`lindi_core.format.families` (wire format, shared by the
translator and the facade); the name the facade's dataset reader uses is kept here."""

from lindi_core.format.families import opaque_member_view as opaque_member_view
