/**
 * Typed access to an anywidget model whose state is one of the contract's `<Widget>State`s
 * (lib/contract.ts). The types say what Python promises; the getters still check what
 * arrives, because a kernel (or a user poking at the model) can send anything, and a
 * widget must then render something sensible instead of throwing (test/hostile.test.ts).
 */
import type { AnyModel, RenderProps } from "@anywidget/types";

export type { AnyModel };

/** What anywidget accepts as a model's state (its own ObjectHash is not exported). */
export type State = Record<string, any>;

/** The part of anywidget's RenderProps the widgets use (the tests pass just these). */
export type WidgetProps<S extends State> = Pick<RenderProps<S>, "model" | "el">;

/** The trait names of `S` whose declared value is assignable to `V`. */
export type KeysOf<S, V> = { [K in keyof S]-?: S[K] extends V ? K : never }[keyof S] & string;

/** What is trusted of a record from the wire: any field may be missing. */
export type Loose<T> = T extends object ? Partial<T> : unknown;

type ElementOf<T> = T extends ReadonlyArray<infer E> ? E : never;

/** Subscribe `callback` to every `change:<name>`; returns the unsubscriber (model.off). */
export function onChanges<S extends State>(
  model: AnyModel<S>,
  names: ReadonlyArray<keyof S & string>,
  callback: () => void,
): () => void {
  const events = names.map((n) => `change:${n}` as const);
  for (const ev of events) model.on(ev, callback);
  return () => {
    for (const ev of events) model.off(ev, callback);
  };
}

/** Set traits and sync them to Python in one save_changes(). */
export function commit<S extends State>(model: AnyModel<S>, values: Partial<S>): void {
  for (const name of Object.keys(values) as Array<keyof S>) model.set(name, values[name] as S[keyof S]);
  model.save_changes();
}

/** An array trait, or [] when something else arrived; its records may lack fields. */
export function getArray<S extends State, K extends KeysOf<S, readonly unknown[]>>(
  model: AnyModel<S>,
  name: K,
): Array<Loose<ElementOf<S[K]>>> {
  const v: unknown = model.get(name);
  return Array.isArray(v) ? v : [];
}

/** A string trait; null/undefined read as "", anything else as its String(). */
export function getString<S extends State>(model: AnyModel<S>, name: KeysOf<S, string>): string {
  const v: unknown = model.get(name);
  return typeof v === "string" ? v : v === null || v === undefined ? "" : String(v);
}

/** An integer trait, truncated; `fallback` when it is not a finite number. */
export function getInt<S extends State>(model: AnyModel<S>, name: KeysOf<S, number>, fallback = 0): number {
  const v: unknown = model.get(name);
  return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

/** A record trait, or null when it is absent or not a plain object; its fields may be missing. */
export function getObject<S extends State, K extends KeysOf<S, object | null>>(
  model: AnyModel<S>,
  name: K,
): Loose<NonNullable<S[K]>> | null {
  const v: unknown = model.get(name);
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Loose<NonNullable<S[K]>>) : null;
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
