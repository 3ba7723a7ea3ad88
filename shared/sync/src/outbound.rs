//! The outbound worker core (being written).
