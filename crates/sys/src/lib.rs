//! Direct kernel calls for berth, each behind a small safe function.
