/**
 * The path prefix an instance's `url` routes under in the gateway, and that its service owns (issue #13):
 * `/admin`, `/admin/` and `/admin?x` are `/admin`; undefined unless the url is an absolute path. The gateway's route
 * table and the core's prefix owners both read urls with this, so they cannot disagree.
 */
export function routePrefix(url: string | undefined): string | undefined {
  if (url?.startsWith('/') !== true) return undefined;
  const end = url.search(/[?#]/);
  let path = end === -1 ? url : url.slice(0, end);
  while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}
