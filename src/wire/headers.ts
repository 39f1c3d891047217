/** The index a read saw; blocking queries pass it back as `?index=`. */
export const INDEX_HEADER = 'x-switchboard-index';
/**
 * Present (`true`) while the answering node cannot reach its store: it still serves reads from its last view, which
 * may be behind, and refuses writes (issue #12).
 */
export const STALE_HEADER = 'x-switchboard-stale';
