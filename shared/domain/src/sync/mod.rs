//! Sync rules (filled in by the sync-rules work).
