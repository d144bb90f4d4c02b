"""Everything that leaves the system as events or tables: renderers and their cell rules."""
