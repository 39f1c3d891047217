// Names that sit in URL paths as they are: the patterns every transport checks them with.
/** Service names: 1–63 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
/** Instance ids: 1–128 characters, no slash or space, so they sit in a URL path as they are. */
export const INSTANCE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';
