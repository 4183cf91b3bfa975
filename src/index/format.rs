//! The versioned index file format (lead).
