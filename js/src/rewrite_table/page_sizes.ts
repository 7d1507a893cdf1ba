/**
 * The page sizes the grid offers: a few steps up to the kernel's bound (`MAX_PAGE_SIZE` in
 * core/table_query.py, which refuses anything larger), plus the widget's own `page_size`, so
 * the size a user passed from Python is always one of the choices. A size Tabulator reports
 * back is clamped to the same bound before it travels, since the browser's state is untrusted.
 */
export const MAX_PAGE_SIZE = 500;
const STEPS = [25, 50, 100, 250, 500];

export function clampPageSize(size: unknown, fallback: number): number {
  const n = typeof size === "number" && Number.isFinite(size) ? Math.trunc(size) : fallback;
  return Math.min(Math.max(n, 1), MAX_PAGE_SIZE);
}

export function pageSizeChoices(initial: number): number[] {
  const own = clampPageSize(initial, 50);
  return [...new Set([...STEPS, own])].filter((n) => n <= MAX_PAGE_SIZE).sort((a, b) => a - b);
}
