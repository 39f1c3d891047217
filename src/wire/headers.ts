/** The index a read saw; blocking queries pass it back as `?index=`. */
export const INDEX_HEADER = 'x-switchboard-index';
/**
 * Present (`true`) while the answering node cannot reach its store: it still serves reads from its last view, which
 * may be behind, and refuses writes (issue #12).
 */
export const STALE_HEADER = 'x-switchboard-stale';
/**
 * On an answer the gateway took from a service's fallback (issue #15): the fallback service's name. The original
 * service had no instance that could take the request.
 */
export const FALLBACK_HEADER = 'x-switchboard-fallback';
/**
 * The registration metadata key naming a service's fallback service (issue #15); `switchboard agent` sets it from a
 * definition's `fallback`. The gateway and the SDK's `Discovery` read it with `fallbackOf` (src/balancing/).
 */
export const FALLBACK_METADATA_KEY = 'switchboard.fallback';
