/**
 * The rows a virtual list renders (issue #16: a service with 10,000 instances stays responsive): only those in view,
 * plus a few on each side so a scroll does not show blank rows, with spacers above and below that keep the scroll
 * bar true to the whole list.
 */
export interface RowWindow {
  first: number;
  /** One past the last row rendered. */
  end: number;
  /** Heights of the spacers above and below the rendered rows, px. */
  before: number;
  after: number;
}

export function rowWindow(options: { count: number; rowHeight: number; scrollTop: number; height: number }): RowWindow {
  const { count, rowHeight, scrollTop, height } = options;
  const overscan = 10;
  const first = Math.max(0, Math.min(count, Math.floor(scrollTop / rowHeight) - overscan));
  const end = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return {
    first,
    end: Math.max(first, end),
    before: first * rowHeight,
    after: (count - Math.max(first, end)) * rowHeight,
  };
}
