/** The index a read saw; blocking queries pass it back as `?index=`. */
export const INDEX_HEADER = 'x-switchboard-index';
