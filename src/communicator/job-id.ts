/**
 * A job identity binds a rank to its job (spec/selection.md §4.1): selection reads it from the launcher,
 * and a backend's admission refuses a rank of another job. Its bound lives here, below both, so that
 * selection can check it without loading a backend (backends are loaded only when selected).
 */

/** The longest job id, in UTF-8 bytes (the tcp Handshake carries it behind a u8 length). */
export const MAX_JOB_ID_BYTES = 128;
