//! Customer value types (filled in by the API work).
