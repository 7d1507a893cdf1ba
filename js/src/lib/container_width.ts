/**
 * Vega's `width: "container"` (the Explorer's chart fills its column) reads the container's
 * width when the chart is embedded and again only on a window "resize" event. A widget view is
 * rendered before JupyterLab attaches it to the page, and a chart in a hidden tab has no width
 * either, so the chart is embedded at 0 px and stays 0 px wide (no bar to see or click) until
 * the person happens to resize the window. JupyterChart's front end is altair's, so the fix
 * lives beside it: a view in the same column watches the column's width and, when it changes
 * (first layout, a tab shown, the split moved), tells Vega the way Vega listens, with one
 * "resize" event on the window per animation frame at most.
 */

/** Watch `el`'s width; on a change to a non-zero width, dispatch one window "resize" event
 * in the next animation frame. Returns the function that stops watching. Without
 * ResizeObserver (an old browser, a test DOM) it does nothing. */
export function announceWidthChanges(el: HTMLElement): () => void {
  const view = el.ownerDocument.defaultView;
  if (view === null || typeof view.ResizeObserver !== "function") {
    return () => {};
  }
  let last = -1;
  let frame: number | null = null;
  const observer = new view.ResizeObserver((entries) => {
    const width = Math.round(entries[entries.length - 1]?.contentRect.width ?? 0);
    if (width === last) {
      return;
    }
    last = width;
    if (width > 0 && frame === null) {
      frame = view.requestAnimationFrame(() => {
        frame = null;
        view.dispatchEvent(new view.Event("resize"));
      });
    }
  });
  observer.observe(el);
  return () => {
    observer.disconnect();
    if (frame !== null) {
      view.cancelAnimationFrame(frame);
    }
  };
}
