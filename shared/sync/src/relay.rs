//! The relay of outbox rows never published or whose lease expired (being written).
