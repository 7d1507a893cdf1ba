/** The slice of the anywidget model API the widgets use (see widget_contract.md). */
export interface AnyModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: unknown): void;
}

export interface RenderProps {
  model: AnyModel;
  el: HTMLElement;
}

/** Subscribe `callback` to every `change:<name>`; returns the unsubscriber (model.off). */
export function onChanges(model: AnyModel, names: string[], callback: () => void): () => void {
  const events = names.map((n) => `change:${n}`);
  for (const ev of events) model.on(ev, callback);
  return () => {
    for (const ev of events) model.off(ev, callback);
  };
}

/** Set traits and sync them to Python in one save_changes(). */
export function commit(model: AnyModel, values: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(values)) model.set(name, value);
  model.save_changes();
}

export function getArray<T = unknown>(model: AnyModel, name: string): T[] {
  const v = model.get(name);
  return Array.isArray(v) ? (v as T[]) : [];
}

export function getString(model: AnyModel, name: string): string {
  const v = model.get(name);
  return typeof v === "string" ? v : v === null || v === undefined ? "" : String(v);
}

export function getInt(model: AnyModel, name: string, fallback = 0): number {
  const v = model.get(name);
  return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

export function getObject<T extends object>(model: AnyModel, name: string): T | null {
  const v = model.get(name);
  return v && typeof v === "object" && !Array.isArray(v) ? (v as T) : null;
}

export function clamp(i: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, i));
}

/** Create the focusable, styled root inside anywidget's `el`. */
export function makeRoot(el: HTMLElement, widgetClass: string): HTMLDivElement {
  const root = document.createElement("div");
  root.className = `rmx-root ${widgetClass}`;
  el.appendChild(root);
  return root;
}
