/** The dashboard's pages, addressed by the URL's fragment (`#/services/web`) so the registry serves one HTML file. */
export type Route =
  | { view: 'services' }
  | { view: 'service'; service: string }
  | { view: 'instance'; service: string; id: string }
  | { view: 'events' }
  /** Every subscriber, or (with `service`) those a drain of that service waits for. */
  | { view: 'subscribers'; service?: string }
  | { view: 'registry' }
  | { view: 'gateway' };

export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((part) => part !== '')
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  const [first, service, third, id] = parts;
  switch (first) {
    case 'events':
      return { view: 'events' };
    case 'subscribers':
      return service === undefined ? { view: 'subscribers' } : { view: 'subscribers', service };
    case 'registry':
      return { view: 'registry' };
    case 'gateway':
      return { view: 'gateway' };
    case 'services':
      if (service === undefined) return { view: 'services' };
      if (third === 'instances' && id !== undefined) return { view: 'instance', service, id };
      return { view: 'service', service };
    case undefined:
    default:
      return { view: 'services' };
  }
}

export function hrefOf(route: Route): string {
  switch (route.view) {
    case 'services':
    case 'events':
    case 'registry':
    case 'gateway':
      return `#/${route.view}`;
    case 'subscribers':
      return route.service === undefined ? '#/subscribers' : `#/subscribers/${encodeURIComponent(route.service)}`;
    case 'service':
      return `#/services/${encodeURIComponent(route.service)}`;
    case 'instance':
      return `#/services/${encodeURIComponent(route.service)}/instances/${encodeURIComponent(route.id)}`;
  }
}
